// CORS and CSP as a real browser enforces them: headless Chromium (Debian's package, driven by
// playwright-core) against the quickstart API and the security_headers example, served on
// loopback. Run by `.ci/run` (`node --test tests/browser/`), after `cargo build --examples`.

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
const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

const children = [];
const servers = [];
let context;
let userDataDir;
let api; // the API as the pages call it: a recording proxy in front of the quickstart
let allowedPage; // a page origin listed in ALLOWED_ORIGINS
let otherPage; // a page origin that is not
let cspSite; // the security_headers example
const seen = []; // requests that reached the API: { method, path, origin, acrm, acrh }

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

/** Listens on a fresh loopback port and resolves with the origin. */
function listen(handler) {
  return new Promise((resolvePromise) => {
    const server = http.createServer(handler);
    servers.push(server);
    server.listen(0, '127.0.0.1', () => resolvePromise(`http://127.0.0.1:${server.address().port}`));
  });
}

const pageHandler = (_req, res) => {
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
  res.end('<!doctype html><title>tower-shield CORS test page</title><p>page</p>');
};

before(async () => {
  allowedPage = await listen(pageHandler);
  otherPage = await listen(pageHandler);
  const quickstart = await startExample('quickstart', ['127.0.0.1:0'], { ALLOWED_ORIGINS: allowedPage });
  const upstream = new URL(quickstart);
  api = await listen((req, res) => {
    seen.push({
      method: req.method,
      path: req.url,
      origin: req.headers.origin,
      acrm: req.headers['access-control-request-method'],
      acrh: req.headers['access-control-request-headers'],
    });
    const forward = http.request(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers },
      (up) => {
        res.writeHead(up.statusCode, up.headers);
        up.pipe(res);
      },
    );
    forward.on('error', (e) => {
      res.writeHead(502);
      res.end(String(e));
    });
    req.pipe(forward);
  });
  cspSite = await startExample('security_headers', ['127.0.0.1:0']);

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

after(async () => {
  await context?.close();
  for (const child of children) child.kill();
  for (const server of servers) server.close();
  if (userDataDir) await rm(userDataDir, { recursive: true, force: true });
});

/** Runs a credentialed fetch of `path` on the API from a page of `pageOrigin`. */
async function fetchFrom(pageOrigin, path) {
  const page = await context.newPage();
  try {
    await page.goto(`${pageOrigin}/`);
    return await page.evaluate(async (url) => {
      try {
        const res = await fetch(url, {
          credentials: 'include',
          // The quickstart's demo Basic credential (jane / password123).
          headers: { Authorization: 'Basic amFuZTpwYXNzd29yZDEyMw==', 'Content-Type': 'application/json' },
        });
        return {
          ok: true,
          status: res.status,
          body: await res.text(),
          requestId: res.headers.get('x-request-id'),
          deprecation: res.headers.get('deprecation'),
          sunset: res.headers.get('sunset'),
          csp: res.headers.get('content-security-policy'),
          rateLimit: res.headers.get('x-ratelimit-limit'),
          rateRemaining: res.headers.get('x-ratelimit-remaining'),
          rateReset: res.headers.get('x-ratelimit-reset'),
        };
      } catch (e) {
        return { ok: false, error: `${e.name}: ${e.message}` };
      }
    }, `${api}${path}`);
  } finally {
    await page.close();
  }
}

test('an allowed origin makes a credentialed fetch after a preflight and reads the exposed headers', async () => {
  seen.length = 0;
  const result = await fetchFrom(allowedPage, '/v2/health');
  assert.equal(result.ok, true, result.error);
  assert.equal(result.status, 200);
  assert.equal(result.body, '{"status":"ok"}');
  assert.match(result.requestId, UUID_V7, 'X-Request-Id is exposed to the page');
  assert.equal(result.csp, null, 'a header that is not exposed stays hidden from the page');
  // The rate-limit headers are exposed: jane's first request of her hourly 1,000.
  assert.equal(result.rateLimit, '1000');
  assert.equal(result.rateRemaining, '999');
  assert.match(result.rateReset, /^\d{10}$/);
  assert.deepEqual(
    seen.map((r) => [r.method, r.path, r.origin, r.acrm, r.acrh]),
    [
      ['OPTIONS', '/v2/health', allowedPage, 'GET', 'authorization,content-type'],
      ['GET', '/v2/health', allowedPage, undefined, undefined],
    ],
  );
});

test('a cross-origin page authenticates with a demo credential', async () => {
  const result = await fetchFrom(allowedPage, '/v2/me');
  assert.equal(result.ok, true, result.error);
  assert.equal(result.status, 200);
  assert.deepEqual(JSON.parse(result.body), {
    subject: 'jane',
    method: 'basic',
    tier: 'authenticated',
    scopes: ['read:posts'],
  });
});

test('a deprecated version shows its Deprecation and Sunset headers to the page', async () => {
  const result = await fetchFrom(allowedPage, '/v1/health');
  assert.equal(result.ok, true, result.error);
  assert.equal(result.status, 200);
  assert.equal(result.deprecation, '@1767225600');
  assert.equal(result.sunset, 'Wed, 30 Jun 2027 00:00:00 GMT');
});

test('an origin that is not allowed is blocked by the browser at the preflight', async () => {
  seen.length = 0;
  const result = await fetchFrom(otherPage, '/v2/health');
  assert.equal(result.ok, false);
  assert.equal(result.error, 'TypeError: Failed to fetch');
  assert.deepEqual(
    seen.map((r) => [r.method, r.origin]),
    [['OPTIONS', otherPage]],
    'the actual request is never sent',
  );
});

test('the web_app() CSP blocks an inline script without the nonce and the report reaches the endpoint', async () => {
  const page = await context.newPage();
  try {
    const response = await page.goto(`${cspSite}/`);
    const csp = response.headers()['content-security-policy'];
    const nonce = csp.match(/'nonce-([A-Za-z0-9_-]{22})'/)?.[1];
    assert.ok(nonce, csp);
    assert.equal(
      csp,
      `default-src 'self'; script-src 'self' 'nonce-${nonce}'; style-src 'self' 'unsafe-inline'; ` +
        "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; " +
        "form-action 'self'; report-uri /csp-report",
    );
    assert.equal(await page.textContent('#allowed'), 'the nonce script ran');
    assert.equal(await page.textContent('#blocked'), 'the inline script without a nonce did not run');
  } finally {
    await page.close();
  }
  let reports = [];
  for (let i = 0; i < 100 && reports.length === 0; i++) {
    reports = await (await fetch(`${cspSite}/csp-reports`)).json();
    if (reports.length === 0) await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(reports.length, 1, 'exactly one violation: the unnonced inline script');
  const report = JSON.parse(reports[0])['csp-report'];
  assert.equal(report['blocked-uri'], 'inline');
  assert.equal(report['effective-directive'], 'script-src-elem');
  assert.equal(report['document-uri'], `${cspSite}/`);
});
