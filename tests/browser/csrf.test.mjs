// CsrfLayer as Chromium meets it: the csrf example (a form posting to POST /posts behind
// CsrfLayer) on 127.0.0.1, and the same form served from other loopback origins: 127.0.0.2 is
// another site (Sec-Fetch-Site: cross-site), 127.0.0.3 another site that the example trusts
// (CSRF_TRUSTED_ORIGIN), 127.0.0.1 on another port the same site but another origin
// (Sec-Fetch-Site: same-site). Run by `.ci/run` (`node --test tests/browser/`), after
// `cargo build --examples`.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const target = process.env.CARGO_TARGET_DIR ? resolve(process.env.CARGO_TARGET_DIR) : join(root, 'target');
const examples = join(target, 'debug', 'examples');
const PROBLEM_TYPE =
  'https://docs.rs/tower-shield/latest/tower_shield/problem/index.html#cross-origin-request-refused';

const children = [];
const servers = [];
let context;
let userDataDir;
let site; // the csrf example: http://127.0.0.1:PORT
let crossSite; // a page on 127.0.0.2
let trustedSite; // a page on 127.0.0.3, trusted by the example
let sameSite; // a page on 127.0.0.1, another port

/** Starts an example binary and resolves with the base URL it prints. */
function startExample(name, args, env = {}) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(join(examples, name), args, {
      env: { ...process.env, RUST_LOG: 'warn', ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    children.push(child);
    let output = '';
    const timer = setTimeout(() => reject(new Error(`${name} did not start: ${output}`)), 20_000);
    child.on('error', reject);
    child.on('exit', (code) => reject(new Error(`${name} exited with ${code}: ${output}`)));
    child.stdout.on('data', (chunk) => {
      output += chunk;
      const match = output.match(/listening on (http:\/\/[^\s/]+)/);
      if (match) {
        clearTimeout(timer);
        resolvePromise(match[1]);
      }
    });
  });
}

/** Serves, on `host` and a fresh port, a page whose form posts to the example's /posts. */
function formPage(host) {
  return new Promise((resolvePromise) => {
    const server = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(
        `<!doctype html><title>another site</title>
         <form method="post" action="${site}/posts"><input name="title" value="forged">
         <button type="submit">Post</button></form>`,
      );
    });
    servers.push(server);
    server.listen(0, host, () => resolvePromise(`http://${host}:${server.address().port}`));
  });
}

before(async () => {
  // The trusted origin is known before the example starts: reserve its port first.
  trustedSite = await formPagePlaceholder('127.0.0.3');
  site = await startExample('csrf', ['127.0.0.1:0'], { CSRF_TRUSTED_ORIGIN: trustedSite.origin });
  trustedSite.ready();
  crossSite = await formPage('127.0.0.2');
  sameSite = await formPage('127.0.0.1');

  userDataDir = await mkdtemp(join(tmpdir(), 'tower-shield-chromium-'));
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
});

/** Listens on `host` now (so the origin is known) and serves the form once `ready()`. */
function formPagePlaceholder(host) {
  return new Promise((resolvePromise) => {
    let ready = false;
    const server = http.createServer((_req, res) => {
      if (!ready) {
        res.writeHead(503);
        res.end();
        return;
      }
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(
        `<!doctype html><title>trusted site</title>
         <form method="post" action="${site}/posts"><input name="title" value="trusted">
         <button type="submit">Post</button></form>`,
      );
    });
    servers.push(server);
    server.listen(0, host, () =>
      resolvePromise({ origin: `http://${host}:${server.address().port}`, ready: () => (ready = true) }),
    );
  });
}

after(async () => {
  await context?.close();
  for (const child of children) child.kill();
  for (const server of servers) server.close();
  if (userDataDir) await rm(userDataDir, { recursive: true, force: true });
});

/** Opens `pageUrl`, submits its form, and returns the status and body of the POST. */
async function submitFrom(pageUrl) {
  const page = await context.newPage();
  try {
    await page.goto(pageUrl);
    const [response] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith('/posts') && r.request().method() === 'POST'),
      page.click('button'),
    ]);
    const headers = await response.request().allHeaders();
    return {
      status: response.status(),
      body: await response.text(),
      contentType: response.headers()['content-type'],
      secFetchSite: headers['sec-fetch-site'],
      origin: headers.origin,
    };
  } finally {
    await page.close();
  }
}

test('a form on the site itself posts (Sec-Fetch-Site: same-origin)', async () => {
  const res = await submitFrom(`${site}/`);
  assert.equal(res.secFetchSite, 'same-origin');
  assert.equal(res.status, 200);
  assert.equal(res.body, 'saved: title=hello');
});

test('a cross-site form POST is refused 403 with a problem', async () => {
  const res = await submitFrom(`${crossSite}/`);
  assert.equal(res.secFetchSite, 'cross-site');
  assert.equal(res.origin, crossSite);
  assert.equal(res.status, 403);
  assert.equal(res.contentType, 'application/problem+json');
  const problem = JSON.parse(res.body);
  assert.equal(problem.type, PROBLEM_TYPE);
  assert.equal(problem.status, 403);
  assert.match(problem.request_id, /^[0-9a-f-]{36}$/);
});

test('a same-site form of another origin is refused too', async () => {
  const res = await submitFrom(`${sameSite}/`);
  assert.equal(res.secFetchSite, 'same-site');
  assert.equal(res.status, 403);
});

test('a form on the trusted origin posts', async () => {
  const res = await submitFrom(`${trustedSite.origin}/`);
  assert.equal(res.secFetchSite, 'cross-site');
  assert.equal(res.origin, trustedSite.origin);
  assert.equal(res.status, 200);
  assert.equal(res.body, 'saved: title=trusted');
});
