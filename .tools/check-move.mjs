// Parse every .move file under a folder with Mysten's tree-sitter Move grammar (the one inside
// @mysten/prettier-plugin-move) and fail on any ERROR or MISSING node, with file:line:col.
// No Sui toolchain can be installed on the build machines: this is the syntax gate.
import { createRequire } from "node:module";
import { readFileSync, readdirSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const here = path.dirname(fileURLToPath(import.meta.url));
const Parser = require(path.join(here, "node_modules", "web-tree-sitter"));
const wasm = path.join(here, "node_modules", "@mysten", "prettier-plugin-move", "tree-sitter-move.wasm");

function moveFiles(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) out.push(...moveFiles(full));
    else if (name.endsWith(".move")) out.push(full);
  }
  return out;
}

function problems(node, acc) {
  if (node.type === "ERROR" || node.isMissing()) {
    const p = node.startPosition;
    acc.push({ line: p.row + 1, col: p.column + 1, kind: node.isMissing() ? `missing ${node.type}` : "syntax error", text: node.text.slice(0, 60) });
    if (acc.length > 20) return acc;
  }
  for (let i = 0; i < node.childCount; i++) problems(node.child(i), acc);
  return acc;
}

const root = process.argv[2];
if (!root) {
  console.error("usage: node .tools/check-move.mjs DIR");
  process.exit(2);
}
await Parser.init();
const parser = new Parser();
parser.setLanguage(await Parser.Language.load(wasm));

const files = moveFiles(root);
if (files.length === 0) {
  console.error(`no .move files under ${root}`);
  process.exit(1);
}
let bad = 0;
for (const file of files) {
  const tree = parser.parse(readFileSync(file, "utf8"));
  const found = problems(tree.rootNode, []);
  if (found.length === 0) {
    console.log(`ok    ${file}`);
  } else {
    bad++;
    for (const p of found) console.log(`FAIL  ${file}:${p.line}:${p.col}: ${p.kind}: ${JSON.stringify(p.text)}`);
  }
}
console.log(`${files.length - bad} of ${files.length} Move files parse`);
process.exit(bad ? 1 : 0);
