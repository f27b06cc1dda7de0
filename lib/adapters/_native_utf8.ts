/**
 * Installs `node:buffer`'s `isUtf8` (Deno, Bun, Node) as the UTF-8 check of the core (lib/core/utf8.ts), for the
 * adapters that already use `node:` modules. Imported for its effect. Private to the adapters folder.
 *
 * @module
 */

import { isUtf8 } from "node:buffer";
import { useNativeUtf8Check } from "../core/utf8.ts";

useNativeUtf8Check(isUtf8);
