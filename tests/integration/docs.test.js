// docs.test.js - what the README and the shipped examples tell a user holds
// (issue 19, "Docs"): every README section that a file of the repository
// cites exists; the README's nginx cluster example is a configuration
// Debian's nginx accepts, with proxy_buffering off beside every proxy_pass;
// each of the README's JavaScript snippets that calls io() or Emitter
// imports it and is a valid module (`node --check` on a .mjs: top-level
// await needs one); every package scripts/install-deps.sh installs for
// `make test` is named in the README; what the README's `npm install`
// for the example workers leaves is ignored by git; and tests/README.md
// has a row for every module of src/ and names only test files that exist.
// And the repository stands alone (issue 20): no tracked file names a path
// outside it, and every section of doc/protocol.md a file cites
// (`doc/protocol.md, "Polling"`) is a heading there.
'use strict';

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const REPO = path.resolve(__dirname, '..', '..');
const README = fs.readFileSync(path.join(REPO, 'README.md'), 'utf8');

/** The fenced blocks of the README whose info string is `lang`. */
function blocks(lang) {
  const out = [];
  const re = /^```(\w*)\n([\s\S]*?)^```$/gm;
  for (let m; (m = re.exec(README));) if (m[1] === lang) out.push(m[2]);
  return out;
}

/** Every tracked file of the repository, by path. */
function tracked() {
  const r = spawnSync('git', ['ls-files'], { cwd: REPO, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.split('\n').filter(Boolean);
}

test('every README section a file cites exists', () => {
  const headings = [...README.matchAll(/^#+ (.*)$/gm)].map((m) => m[1].trim());
  let cited = 0;
  for (const file of tracked()) {
    if (file === 'tests/integration/docs.test.js' || !fs.statSync(path.join(REPO, file)).isFile()) continue;
    const text = fs.readFileSync(path.join(REPO, file), 'latin1').replace(/\n#\s*/g, ' ');
    for (const m of text.matchAll(/README(?:\.md)?, "([^"]+)"/g)) {
      cited++;
      assert.ok(headings.some((h) => h.startsWith(m[1])), `${file} cites README section "${m[1]}", which does not exist`);
    }
  }
  assert.ok(cited >= 3, `only ${cited} citations found: the pattern missed them`);
});

/** A tracked file's text with comment continuations joined, so that a
 * citation wrapped over two comment lines (C, JS or shell) reads as one. */
function joined(file) {
  return fs.readFileSync(path.join(REPO, file), 'latin1').replace(/\n[ \t]*(?:\*(?!\/)|\/\/|#)?[ \t]*/g, ' ');
}

test('no tracked file names a path outside the repository', () => {
  // Built from pieces so that this file does not match itself.
  const outside = new RegExp(['/wor' + 'k/', '\\.\\./sha' + 'red', 'shared/vec' + 'tors', 'protocol-not' + 'es'].join('|'));
  const hits = [];
  for (const file of tracked()) {
    if (!fs.statSync(path.join(REPO, file)).isFile()) continue;
    const lines = fs.readFileSync(path.join(REPO, file), 'latin1').split('\n');
    lines.forEach((line, i) => { if (outside.test(line)) hits.push(`${file}:${i + 1}: ${line.trim()}`); });
  }
  assert.deepEqual(hits, [], 'these lines name a file outside the repository (write it down in doc/ or tests/vectors/)');
});

test('every doc/protocol.md section a file cites exists, once', () => {
  const doc = fs.readFileSync(path.join(REPO, 'doc', 'protocol.md'), 'utf8').replace(/^```[\s\S]*?^```$/gm, '');
  const headings = [...doc.matchAll(/^#+ (.*)$/gm)].map((m) => m[1].trim());
  const twice = headings.filter((h, i) => headings.indexOf(h) !== i);
  assert.deepEqual(twice, [], 'doc/protocol.md repeats these headings, so a citation of them is ambiguous');
  let cited = 0;
  for (const file of tracked()) {
    if (!fs.statSync(path.join(REPO, file)).isFile()) continue;
    // The path, a comma, then quoted headings joined by ", " or " and "; in a
    // C string the quotes are escaped.
    for (const m of joined(file).matchAll(/doc\/protocol\.md, ((?:\\?"[^"\\]+\\?"(?:, | and )?)+)/g)) {
      for (const [, name] of m[1].matchAll(/\\?"([^"\\]+)\\?"/g)) {
        cited++;
        assert.ok(headings.includes(name), `${file} cites doc/protocol.md section "${name}", which does not exist`);
      }
    }
  }
  assert.ok(cited >= 40, `only ${cited} citations found: the pattern missed them`);
});

test('the README\'s nginx example is accepted by nginx and never buffers a long-poll', () => {
  const nginx = blocks('nginx');
  assert.ok(nginx.length >= 1, 'an nginx block');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'roomcast-docs-'));
  try {
    for (const [i, conf] of nginx.entries()) {
      for (const loc of conf.split(/location /).slice(1)) {
        if (/proxy_pass/.test(loc)) assert.match(loc, /proxy_buffering off;/, `nginx block ${i}: a location without proxy_buffering off`);
      }
      const site = conf.replace(/listen 80;/g, 'listen 127.0.0.1:1;');
      fs.writeFileSync(path.join(dir, 'nginx.conf'), `pid ${dir}/nginx.pid;\nerror_log ${dir}/error.log;\n` +
        `events {}\nhttp {\n  access_log off;\n  client_body_temp_path ${dir}/b;\n  proxy_temp_path ${dir}/p;\n${site}\n}\n`);
      const r = spawnSync('nginx', ['-t', '-q', '-c', path.join(dir, 'nginx.conf'), '-p', dir], { encoding: 'utf8' });
      assert.equal(r.status, 0, `nginx block ${i}: ${r.stderr}`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('the README\'s JavaScript snippets import what they use and are valid modules', () => {
  const js = blocks('js');
  assert.ok(js.length >= 3, 'JavaScript blocks');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'roomcast-docs-'));
  try {
    for (const [i, code] of js.entries()) {
      for (const name of ['io', 'Emitter']) {
        if (new RegExp(`\\b${name}\\(|new ${name}\\b`).test(code)) {
          assert.match(code, new RegExp(`(import|require)[^\\n]*\\b${name}\\b`), `js block ${i} uses ${name} without importing it:\n${code}`);
        }
      }
      const file = path.join(dir, `block${i}.mjs`);
      fs.writeFileSync(file, code);
      const r = spawnSync(process.execPath, ['--check', file], { encoding: 'utf8' });
      assert.equal(r.status, 0, `js block ${i} is not a valid module: ${r.stderr}`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('the README names every package make test installs', () => {
  const script = fs.readFileSync(path.join(REPO, 'scripts', 'install-deps.sh'), 'utf8');
  const m = /test_pkgs="([^"]*)"/.exec(script);
  assert.ok(m, 'test_pkgs in install-deps.sh');
  for (const pkg of m[1].split(/\s+/).filter(Boolean)) {
    assert.ok(README.includes(`\`${pkg}\``), `the README does not name ${pkg}, which make test installs`);
  }
});

test('what the README\'s npm install for the example workers leaves is ignored by git', () => {
  assert.match(README, /npm install --no-save --prefix examples redis notepack\.io/);
  const r = spawnSync('git', ['check-ignore', '-q', 'examples/node_modules/redis/package.json'], { cwd: REPO });
  assert.equal(r.status, 0, 'examples/node_modules is not ignored');
});

// tests/README.md, the map of the tests (issue 20): a row per module of
// src/ (its subfolders included, rows named by file name), whose unit cell
// names a test or says why there is none, and every test file it names
// exists where its kind lives.
test('tests/README.md has a row for every module and names only test files that exist', () => {
  const map = fs.readFileSync(path.join(REPO, 'tests', 'README.md'), 'utf8');
  const rows = new Map();
  for (const m of map.matchAll(/^\| `([\w-]+\.c)` \|(.*)\|$/gm)) rows.set(m[1], m[2].split('|').map((c) => c.trim()));
  const modules = [];
  const walk = (dir) => {
    for (const e of fs.readdirSync(path.join(REPO, dir), { withFileTypes: true })) {
      if (e.isDirectory()) walk(path.join(dir, e.name));
      else if (e.name.endsWith('.c')) modules.push(path.join(dir, e.name));
    }
  };
  walk('src');
  assert.ok(modules.length >= 20, `only ${modules.length} modules found under src/`);
  for (const file of modules) {
    const cells = rows.get(path.basename(file));
    assert.ok(cells, `${file} has no row in tests/README.md`);
    assert.equal(cells.length, 3, `${file}'s row: unit, fuzz and integration cells`);
    assert.match(cells[0], /^(`test_\w+\.c`|none)/, `${file}'s row: its unit test, or none and why`);
  }
  const homes = [
    [/\btest_\w+\.c\b/g, 'tests/unit'],
    [/\bfuzz_\w+\.c\b/g, 'tests/fuzz'],
    [/\b[a-z][a-z0-9-]*\.test\.js\b/g, 'tests/integration'],
  ];
  let named = 0;
  for (const [re, dir] of homes) {
    for (const [name] of map.matchAll(re)) {
      named++;
      assert.ok(fs.existsSync(path.join(REPO, dir, name)), `tests/README.md names ${name}, which is not in ${dir}/`);
    }
  }
  assert.ok(named >= modules.length, `only ${named} test files named: the patterns missed them`);
});
