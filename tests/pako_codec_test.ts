import { pakoCodec } from "../lib/pako_codec.ts";
import { codecSuite } from "./_codec_suite.ts";

codecSuite(pakoCodec);
