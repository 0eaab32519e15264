// The Firefox driver of duet's Go tests (internal/testkit/firefoxtest):
// stock Firefox (Debian's firefox-esr) through puppeteer-core over WebDriver
// BiDi. It listens on 127.0.0.1 (a port of its own, printed as the first
// line on stdout: {"port": n, "version": "firefox/…"}) and takes one JSON
// command per POST to /, answering with one JSON object:
//
//   {"op":"open","url":"http://…"}          → {"page":1}
//   {"op":"eval","page":1,"expr":"1+1"}      → {"value":2}
//   {"op":"click","page":1,"selector":"#b"}  → {}
//   {"op":"close","page":1}                  → {}
//   any failure                              → {"error":"…"}
//
// Each page is a window of its own in a browser context of its own: two
// pages are two people (separate storage), both in the foreground, so no
// timer or frame callback is throttled. An expression that yields a
// promise is awaited; its value must be JSON. Evaluating gives the page no
// user activation (autoplay policies see no gesture); click does. Console messages of the
// pages go to stderr. SIGTERM (or SIGINT) closes Firefox and exits.
// (Commands do not come on stdin: Firefox fails to start its sessions
// while the driver reads its own stdin.)
//
// argv[2] is a JSON object: {"executable": path, "profile": dir,
// "prefs": {name: value}, "args": [...]}; prefs add to (or, with null,
// remove) the defaults below.

import puppeteer from 'puppeteer-core';
import http from 'node:http';

const opts = JSON.parse(process.argv[2] || '{}');

// What a WebRTC test needs, and nothing that changes what a person's
// Firefox would do with a page: fake camera and microphone without a
// prompt, host candidates as addresses (not mDNS names) and on loopback,
// so two pages on one machine connect offline.
const prefs = {
  'media.navigator.streams.fake': true,
  'media.navigator.permission.disabled': true,
  'media.peerconnection.ice.obfuscate_host_addresses': false,
  'media.peerconnection.ice.loopback': true,
  'media.autoplay.default': 0, // allowed; null in opts.prefs keeps Firefox's default policy
  'browser.shell.checkDefaultBrowser': false,
  'datareporting.policy.dataSubmissionEnabled': false,
  'toolkit.telemetry.reportingpolicy.firstRun': false,
  'app.update.enabled': false,
  'network.captive-portal-service.enabled': false,
  'network.connectivity-service.enabled': false,
};
for (const [k, v] of Object.entries(opts.prefs || {})) {
  if (v === null) delete prefs[k];
  else prefs[k] = v;
}

// Firefox now and then closes the driver's first session while it
// starts (session.new: "Target closed"); a second launch goes through.
async function launch() {
  for (let attempt = 1; ; attempt++) {
    try {
      return await puppeteer.launch({
        browser: 'firefox',
        executablePath: opts.executable || '/usr/bin/firefox-esr',
        headless: true,
        userDataDir: opts.profile,
        extraPrefsFirefox: prefs,
        args: opts.args || [],
        dumpio: !!opts.dumpio,
      });
    } catch (err) {
      if (attempt >= 3) throw err;
      process.stderr.write(`firefox did not start (${err && err.message}); trying again\n`);
    }
  }
}
const browser = await launch();

const pages = new Map();
let nextPage = 0;

async function run(cmd) {
  switch (cmd.op) {
    case 'open': {
      const ctx = await browser.createBrowserContext();
      const page = await ctx.newPage({ type: 'window' });
      const n = ++nextPage;
      page.on('console', (m) => process.stderr.write(`page ${n} console.${m.type()}: ${m.text()}\n`));
      page.on('pageerror', (err) => process.stderr.write(`page ${n} error: ${err && err.message}\n`));
      pages.set(n, { ctx, page });
      await page.goto(cmd.url, { waitUntil: 'load' });
      return { page: n };
    }
    case 'eval': {
      const p = pages.get(cmd.page);
      if (!p) throw new Error(`no page ${cmd.page}`);
      // Not page.evaluate: it evaluates with a user activation (as if the
      // person had clicked), which would lift the autoplay policy that a
      // test may be about. Only click() acts as the person.
      const realm = p.page.mainFrame().mainRealm().realm;
      const r = await realm.evaluate(
        `Promise.resolve((${cmd.expr})).then((v) => JSON.stringify(v === undefined ? null : v))`,
        true, { resultOwnership: 'none', userActivation: false });
      if (r.type === 'exception') {
        throw new Error(`${r.exceptionDetails.text} (line ${r.exceptionDetails.lineNumber})`);
      }
      return { value: JSON.parse(r.result.value) };
    }
    case 'click': {
      const p = pages.get(cmd.page);
      if (!p) throw new Error(`no page ${cmd.page}`);
      await p.page.click(cmd.selector);
      return {};
    }
    case 'close': {
      const p = pages.get(cmd.page);
      if (p) {
        pages.delete(cmd.page);
        await p.ctx.close();
      }
      return {};
    }
    case 'version':
      return { value: await browser.version() };
    default:
      throw new Error(`unknown op ${cmd.op}`);
  }
}

const server = http.createServer((req, res) => {
  let body = '';
  req.on('data', (d) => { body += d; });
  req.on('end', () => {
    const answer = (msg) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(msg));
    };
    let cmd;
    try {
      cmd = JSON.parse(body);
    } catch (err) {
      answer({ error: `bad command: ${err.message}` });
      return;
    }
    run(cmd).then(answer, (err) => answer({ error: String((err && err.message) || err) }));
  });
});

let closing = false;
async function quit() {
  if (closing) return;
  closing = true;
  server.close();
  await browser.close().catch(() => {});
  process.exit(0);
}
process.on('SIGTERM', quit);
process.on('SIGINT', quit);

server.listen(0, '127.0.0.1', async () => {
  const version = await browser.version();
  process.stdout.write(JSON.stringify({ port: server.address().port, version }) + '\n');
});
