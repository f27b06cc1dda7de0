/**
 * `serve --static DIR`: plain HTTP requests get the files of a directory. GET and HEAD only; a directory
 * gets its index.html (no listings); a path that leaves DIR, by `..`, an encoded `/`, or a symbolic link
 * pointing elsewhere, is refused with 403.
 *
 * @module
 */

import { createReadStream } from "node:fs";
import { realpath, stat } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { extname, join, resolve, sep } from "node:path";

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".htm": "text/html; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".json": "application/json",
  ".map": "application/json",
  ".txt": "text/plain; charset=utf-8",
  ".md": "text/markdown; charset=utf-8",
  ".xml": "application/xml",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
  ".gif": "image/gif",
  ".webp": "image/webp",
  ".ico": "image/x-icon",
  ".wasm": "application/wasm",
  ".pdf": "application/pdf",
};

/**
 * @param root The directory, absolute and with its links resolved (`realpath`).
 * @param path An absolute path.
 * @returns Whether `path` is `root` or inside it.
 */
export function isInside(root: string, path: string): boolean {
  return path === root || path.startsWith(root.endsWith(sep) ? root : root + sep);
}

function answer(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): number {
  res.writeHead(status, { "content-type": "text/plain; charset=utf-8", "x-content-type-options": "nosniff", ...headers });
  res.end(`${text}\n`);
  return status;
}

/**
 * Answers one request from the directory.
 *
 * @param root The directory, absolute and with its links resolved.
 * @param req The request.
 * @param res The response.
 * @returns The status sent.
 */
export async function serveStatic(root: string, req: IncomingMessage, res: ServerResponse): Promise<number> {
  if (req.method !== "GET" && req.method !== "HEAD") return answer(res, 405, "Method Not Allowed", { allow: "GET, HEAD" });
  let url: URL, pathname: string;
  try {
    url = new URL(req.url ?? "/", "http://localhost");
    pathname = decodeURIComponent(url.pathname);
  } catch {
    return answer(res, 400, "Bad Request: the path is not valid");
  }
  if (pathname.includes("\0")) return answer(res, 400, "Bad Request: the path is not valid");
  let file = resolve(root, `.${pathname}`);
  if (!isInside(root, file)) return answer(res, 403, "Forbidden: the path leaves the served directory");
  try {
    file = await realpath(file);
    if (!isInside(root, file)) return answer(res, 403, "Forbidden: the path leaves the served directory");
    let info = await stat(file);
    if (info.isDirectory()) {
      if (!url.pathname.endsWith("/")) return answer(res, 301, "Moved Permanently", { location: `${url.pathname}/${url.search}` });
      file = await realpath(join(file, "index.html"));
      if (!isInside(root, file)) return answer(res, 403, "Forbidden: the path leaves the served directory");
      info = await stat(file);
    }
    if (!info.isFile()) return answer(res, 404, "Not Found");
    res.writeHead(200, {
      "content-type": TYPES[extname(file).toLowerCase()] ?? "application/octet-stream",
      "content-length": String(info.size),
      "x-content-type-options": "nosniff",
    });
    if (req.method === "HEAD") {
      res.end();
      return 200;
    }
    const stream = createReadStream(file);
    stream.on("error", () => res.destroy());
    stream.pipe(res);
    return 200;
  } catch {
    return answer(res, 404, "Not Found");
  }
}
