// Drives the operators' dashboard (GET /mesh/, src/cloudflare/dashboard.html) in a real headless
// Chromium (Debian's /usr/bin/chromium through playwright-core, which downloads no browser): enters
// the admin token by keyboard, waits for the shard and session totals the caller expects, sends a
// broadcast through the test route /mesh/send and waits for the page's delivery total to grow by
// at least one delivery per session, then saves a 1366x768 screenshot. Any console error or warning,
// page error or failed request fails the check.
// Usage: node dashboard_check.mjs <base-url> <admin-token> <expected-shard-count>
//          <expected-session-total> <screenshot-path>
// Prints one JSON line with what it saw; exits non-zero with the reason on any failure.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { chromium } from "playwright-core";

const CHROMIUM = "/usr/bin/chromium";
const CHROMIUM_ARGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];
// The page polls every 2 s; these bound each wait at several polls.
const PATIENCE_MS = 20000;
const VIEWPORT = { width: 1366, height: 768 };
// The ids the page promises to tests.
const STABLE_IDS = [
  "token-form", "token", "shard-count", "member-count", "session-total", "shard-bars", "deliveries-total",
  "deliveries-chart", "fanout-p50", "fanout-p99", "config", "last-updated", "error",
];

const [baseArg, token, shardArg, sessionArg, screenshotPath] = process.argv.slice(2);
const expectedShards = Number(shardArg);
const expectedSessions = Number(sessionArg);
if (!baseArg || !token || !Number.isInteger(expectedShards) || !Number.isInteger(expectedSessions) || !screenshotPath) {
  console.error("usage: node dashboard_check.mjs <base-url> <admin-token> <expected-shard-count> <expected-session-total> <screenshot-path>");
  process.exit(2);
}
const base = baseArg.replace(/\/+$/, "");

class CheckError extends Error {}
function check(condition, what) {
  if (!condition) throw new CheckError(what);
}

// What the page shows of the totals this check waits on; numbers come from data-value where the page
// sets one, so formatting (thousands separators) cannot confuse the comparison.
function readTotals(page) {
  return page.evaluate(() => {
    const num = (id) => {
      const el = document.getElementById(id);
      if (!el) return null;
      const raw = el.dataset.value ?? el.textContent.replace(/[^0-9.-]/g, "");
      return raw === "" ? null : Number(raw);
    };
    const bars = [...document.querySelectorAll("#shard-bars .shard-bar")];
    return {
      shardCount: num("shard-count"),
      memberCount: num("member-count"),
      sessionTotal: num("session-total"),
      barCount: bars.length,
      barSum: bars.reduce((sum, b) => sum + Number(b.dataset.sessions), 0),
      barShards: bars.map((b) => Number(b.dataset.shard)),
      bars: Object.fromEntries(bars.map((b) => [b.dataset.shard, Number(b.dataset.sessions)])),
      deliveriesTotal: num("deliveries-total"),
      fanoutP50: document.getElementById("fanout-p50")?.textContent.trim() ?? null,
      fanoutP99: document.getElementById("fanout-p99")?.textContent.trim() ?? null,
      configRows: document.querySelectorAll("#config tbody tr td + td").length,
      lastUpdated: document.getElementById("last-updated")?.textContent.trim() ?? null,
      updatedAt: Number(document.getElementById("last-updated")?.dataset.time ?? 0),
      chartDrawn: Boolean(document.querySelector("#deliveries-chart svg")),
      error: document.getElementById("error")?.textContent.trim() ?? null,
      askingForToken: document.getElementById("token-form")?.checkVisibility() ?? false,
    };
  });
}

// Polls `read` until `done` holds, at most PATIENCE_MS; the failure names what was last seen. A page
// that asks for the token again (the Worker answered 401) fails at once.
async function waitFor(what, read, done) {
  const deadline = Date.now() + PATIENCE_MS;
  let seen;
  for (;;) {
    seen = await read();
    if (seen.askingForToken) throw new CheckError(`the page asks for the token again while waiting for ${what}: ${seen.error}`);
    if (done(seen)) return seen;
    if (Date.now() > deadline) throw new CheckError(`timed out after ${PATIENCE_MS / 1000} s waiting for ${what}; the page shows ${JSON.stringify(seen)}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function broadcast() {
  // The test route's body is the manager API's send(all, data), where data is a complete SSE frame
  // written to each stream as it is: a comment, so MCP clients on the mesh see no message.
  const response = await fetch(`${base}/mesh/send`, {
    method: "POST",
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
    body: JSON.stringify({ data: ": dashboard-check\n\n" }),
  });
  const text = await response.text();
  check(response.ok, `POST /mesh/send answered ${response.status}: ${text.slice(0, 200)}`);
  return JSON.parse(text);
}

async function run(context, problems) {
  const page = context.pages()[0] ?? (await context.newPage());
  page.on("console", (message) => {
    if (message.type() === "error" || message.type() === "warning") {
      problems.push(`console ${message.type()}: ${message.text()}`);
    }
  });
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  page.on("requestfailed", (request) => {
    // A reload cancels the page's polls in flight; that is not a failure.
    if (request.failure()?.errorText === "net::ERR_ABORTED") return;
    problems.push(`request failed: ${request.method()} ${request.url()}: ${request.failure()?.errorText}`);
  });

  const response = await page.goto(`${base}/mesh/`, { waitUntil: "load" });
  check(response && response.ok(), `GET /mesh/ answered ${response ? response.status() : "nothing"}`);
  check(await page.locator("#token-form").isVisible(), "the token form (#token-form) is not shown to a new visitor");
  const missing = await page.evaluate((ids) => ids.filter((id) => !document.getElementById(id)), STABLE_IDS);
  check(missing.length === 0, `the page lacks the elements ${missing.map((id) => "#" + id).join(", ")}`);
  check(await page.locator("#error").getAttribute("aria-live"), "#error is not an aria-live region");

  // Keyboard: the first Tab from the top of the page lands on the token input, with a visible focus ring.
  await page.keyboard.press("Tab");
  const focus = await page.evaluate(() => {
    const el = document.activeElement;
    const style = el ? getComputedStyle(el) : null;
    const label = el && el.id ? document.querySelector(`label[for="${el.id}"]`) : null;
    return {
      id: el?.id ?? null,
      type: el?.getAttribute("type") ?? null,
      label: label ? label.textContent.trim() : null,
      ring: style ? style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0 : false,
    };
  });
  check(focus.id === "token", `the first Tab focuses #${focus.id}, not the token input #token`);
  check(focus.type === "password", `the token input is type=${focus.type}, not password`);
  check(Boolean(focus.label), "the token input has no <label for=token>");
  check(focus.ring, "the focused token input shows no focus outline");
  await page.keyboard.type(token);
  await page.keyboard.press("Enter");

  const waitForTotals = () => waitFor(
    `${expectedShards} configured shards and ${expectedSessions} sessions`,
    () => readTotals(page),
    (s) => s.shardCount === expectedShards && s.sessionTotal === expectedSessions && s.barSum === expectedSessions
      && s.barCount === s.memberCount,
  );
  await waitForTotals();

  // The token is kept for the tab: a reload goes straight to the dashboard, whose first Tab stop is
  // the change-token control.
  await page.reload({ waitUntil: "load" });
  await page.keyboard.press("Tab");
  const afterReload = await page.evaluate(() => document.activeElement?.id ?? null);
  check(afterReload === "change-token", `after a reload the first Tab focuses #${afterReload}, not #change-token`);
  const shown = await waitForTotals();
  check(new Set(shown.barShards).size === shown.barCount, `the shard bars repeat a shard: ${shown.barShards}`);
  check(shown.barShards.every((s) => Number.isInteger(s) && s >= 0 && s < expectedShards),
    `a shard bar names a shard outside 0..${expectedShards - 1}: ${shown.barShards}`);
  check(shown.configRows > 0, "the config table (#config) is empty: /mesh/status carries no config map");

  // A worker that has delivered nothing yet may expose no deliveries series, and the page a dash.
  const before = shown.deliveriesTotal ?? 0;
  const report = await broadcast();
  const grown = await waitFor(
    `#deliveries-total to grow from ${before} by at least ${expectedSessions}`,
    () => readTotals(page),
    (s) => s.deliveriesTotal !== null && s.deliveriesTotal - before >= expectedSessions,
  );
  // One more poll, so the chart holds the broadcast's rate when the screenshot is taken.
  const final = await waitFor("the next poll", () => readTotals(page), (s) => s.updatedAt > grown.updatedAt);
  check(!final.error, `the page shows an error: ${final.error}`);
  check(final.chartDrawn, "#deliveries-chart holds no chart");

  await page.evaluate(() => document.activeElement?.blur());
  fs.mkdirSync(path.dirname(path.resolve(screenshotPath)), { recursive: true });
  await page.screenshot({ path: screenshotPath });
  return { shown, report, final };
}

const problems = [];
const profile = fs.mkdtempSync(path.join(os.tmpdir(), "dashboard-check-"));
let context;
let outcome;
try {
  check(fs.existsSync(CHROMIUM), `${CHROMIUM} is missing: run scripts/setup.sh (it installs Debian's chromium)`);
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: VIEWPORT,
  });
  outcome = await run(context, problems);
} catch (error) {
  // A bug in this script shows its stack; a browser or network failure, Playwright's message.
  const internal = error instanceof TypeError || error instanceof ReferenceError || error instanceof SyntaxError;
  problems.unshift(error instanceof CheckError ? error.message : `check crashed: ${internal ? error.stack : error.message}`);
} finally {
  await context?.close().catch(() => {});
  fs.rmSync(profile, { recursive: true, force: true });
}

if (problems.length) {
  console.error(`dashboard check failed:\n  ${problems.join("\n  ")}`);
  process.exit(1);
}
const { shown, report, final } = outcome;
console.log(JSON.stringify({
  ok: true,
  shard_count: shown.shardCount,
  member_shards: shown.memberCount,
  sessions: shown.sessionTotal,
  shard_bars: shown.bars,
  deliveries_before: shown.deliveriesTotal ?? 0,
  deliveries_after: final.deliveriesTotal,
  send_report: report,
  fanout_p50: final.fanoutP50,
  fanout_p99: final.fanoutP99,
  config_vars: final.configRows,
  screenshot: screenshotPath,
}));
