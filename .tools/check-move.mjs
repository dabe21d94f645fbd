// Parse every .move file under a folder with Mysten's tree-sitter Move grammar (the one inside
// @mysten/prettier-plugin-move) and fail on any ERROR or MISSING node, with file:line:col.
// No Sui toolchain can be installed on the build machines: this is the syntax gate (it does not
// type-check; `sui move build` / `sui move test` do that where the Sui CLI exists).
//
//   node .tools/check-move.mjs contracts        # one line per file, a summary, exit 1 on errors
import { createRequire } from "node:module";
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const here = path.dirname(fileURLToPath(import.meta.url));
const modules = path.join(here, "node_modules");
const wasm = path.join(modules, "@mysten", "prettier-plugin-move", "tree-sitter-move.wasm");
// `sui move build` copies the dependencies' sources under build/: not ours to check.
const SKIP_DIRS = new Set(["build", "node_modules", ".git"]);
const MAX_PROBLEMS_PER_FILE = 20;

function moveFiles(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) {
      if (!SKIP_DIRS.has(name)) out.push(...moveFiles(full));
    } else if (name.endsWith(".move")) {
      out.push(full);
    }
  }
  return out;
}

/** Depth-first list of ERROR and MISSING nodes (an ERROR's own children are not repeated). */
function problems(node, acc) {
  if (acc.length >= MAX_PROBLEMS_PER_FILE) return acc;
  if (node.type === "ERROR" || node.isMissing()) {
    const p = node.startPosition;
    acc.push({
      line: p.row + 1,
      col: p.column + 1,
      kind: node.isMissing() ? `missing ${node.type}` : "syntax error",
      text: node.text.split("\n")[0].slice(0, 60),
    });
    return acc;
  }
  for (let i = 0; i < node.childCount; i++) problems(node.child(i), acc);
  return acc;
}

function fail(message) {
  console.error(`check-move: ${message}`);
  process.exit(2);
}

const root = process.argv[2];
if (!root) fail("usage: node .tools/check-move.mjs DIR");
if (!existsSync(root) || !statSync(root).isDirectory()) fail(`${root} is not a directory`);
if (!existsSync(wasm)) fail(`${wasm} is missing: run \`make move-check\` (npm install in .tools)`);

const Parser = require(path.join(modules, "web-tree-sitter"));
await Parser.init();
const parser = new Parser();
parser.setLanguage(await Parser.Language.load(wasm));

const files = moveFiles(root);
if (files.length === 0) fail(`no .move files under ${root}`);

let bad = 0;
for (const file of files) {
  const tree = parser.parse(readFileSync(file, "utf8"));
  const found = problems(tree.rootNode, []);
  if (found.length === 0 && tree.rootNode.hasError()) {
    found.push({ line: 1, col: 1, kind: "syntax error", text: "(parser reported an error)" });
  }
  if (found.length === 0) {
    console.log(`ok    ${file}`);
  } else {
    bad++;
    for (const p of found) {
      console.log(`FAIL  ${file}:${p.line}:${p.col}: ${p.kind}: ${JSON.stringify(p.text)}`);
    }
  }
  tree.delete();
}
console.log(`${files.length - bad} of ${files.length} Move files parse`);
process.exit(bad ? 1 : 0);
