// The web page of `mmfuse serve` in a real browser, for tests/cli_serve_browser.sh:
// npm's playwright-core drives Debian's chromium (executablePath). Not a test
// itself. Every hit the page shows is checked against the API's own answer to
// the same query (fetched here, not through the page).
//   node tests/serve_browser.js PLAYWRIGHT_DIR CHROMIUM URL SHOT.png [IMAGE.png DROP.png]
// Without the two images (a text-only model) the image steps are left out.
const fs = require("fs");
const path = require("path");
const [pwDir, chrome, url, shot, upload, drop] = process.argv.slice(2);
const { chromium } = require(path.join(pwDir, "node_modules", "playwright-core"));

let failed = 0;
function check(ok, what) {
  if (!ok) { console.error("FAILED: " + what); failed = 1; }
  else console.log("ok: " + what.split(":")[0]);
}

async function api(p, body) {
  const r = await fetch(url + p, {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)});
  return {status: r.status, json: await r.json()};
}

const dataUrl = f => "data:image/png;base64," + fs.readFileSync(f).toString("base64");

// the hits as the page shows them: id, score text, whether a picture is shown
const shown = page => page.$$eval("ol#hits li.hit", lis => lis.map(li => ({
  id: li.querySelector(".id").textContent, score: li.querySelector(".score").textContent,
  img: !!li.querySelector("img"), payload: li.querySelector("code") ? li.querySelector("code").textContent : null})));

async function search(page) {   // empties the list, submits, waits for the new hits
  await page.evaluate(() => { document.getElementById("hits").innerHTML = ""; });
  await page.click("#go");
  await page.waitForSelector("ol#hits li", {timeout: 20000});
  return shown(page);
}

function same(hits, want, what) {
  const a = hits.map(h => h.id + " " + h.score), b = want.map(h => h.id + " score " + h.score.toFixed(4));
  check(hits.length > 0 && JSON.stringify(a) === JSON.stringify(b), what + ": page " + JSON.stringify(a) + " vs API " + JSON.stringify(b));
}

(async () => {
  const browser = await chromium.launch({executablePath: chrome, headless: true,
                                         args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]});
  const page = await browser.newPage({viewport: {width: 1000, height: 1100}});
  const pageErrors = [];
  page.on("pageerror", e => pageErrors.push(e.message));
  page.on("console", m => { if (m.type() === "error" && !/Failed to load resource/.test(m.text())) pageErrors.push(m.text()); });
  await page.goto(url + "/");
  await page.waitForFunction(() => document.getElementById("status").textContent === "ready", null, {timeout: 20000});
  check(true, "the page loads and says ready");

  // a text query, typed
  await page.fill("#q", "a photo of a cat");
  let hits = await search(page);
  same(hits, (await api("/v1/search", {text: "a photo of a cat", k: 5})).json.hits, "typed text: the hits shown are the API's");
  check(hits.some(h => h.payload && h.payload.includes("caption")), "payloads are shown: " + JSON.stringify(hits));

  // add an item from the page; the API then finds it with its payload
  await page.fill("#add-id", "web-1");
  await page.fill("#add-text", "a small red heart");
  await page.fill("#add-payload", '{"from": "page"}');
  await page.click("#add-go");
  await page.waitForFunction(() => document.getElementById("added").textContent !== "" ||
                                   document.getElementById("error").textContent !== "", null, {timeout: 20000});
  check(await page.textContent("#added") === "added web-1", "add an item: " + await page.textContent("#error"));
  const found = (await api("/v1/search", {text: "a small red heart", k: 10})).json.hits.find(h => h.id === "web-1");
  check(found && found.payload && found.payload.from === "page", "the added item is in the index: " + JSON.stringify(found));
  await page.fill("#q", "a small red heart");
  hits = await search(page);
  same(hits, (await api("/v1/search", {text: "a small red heart", k: 5})).json.hits, "the added item is found from the page");

  if (upload) {
    // an image chosen with the file input
    await page.setInputFiles("#file", upload);
    await page.waitForSelector("#drop img");
    hits = await search(page);
    same(hits, (await api("/v1/search", {image: dataUrl(upload), k: 5})).json.hits, "uploaded image: the hits shown are the API's");
    // an image dropped on the drop zone (a DragEvent carrying a File), added as an item
    await page.evaluate(b64 => {
      const bin = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
      const dt = new DataTransfer();
      dt.items.add(new File([bin], "drop.png", {type: "image/png"}));
      document.getElementById("drop").dispatchEvent(new DragEvent("drop", {dataTransfer: dt, bubbles: true, cancelable: true}));
    }, fs.readFileSync(drop).toString("base64"));
    await page.waitForFunction(() => (document.querySelector("#drop img") || {}).alt === "drop.png", null, {timeout: 10000});
    await page.fill("#add-id", "web-img");
    await page.fill("#add-payload", '{"kind": "dropped"}');
    await page.evaluate(() => { document.getElementById("added").textContent = ""; });
    await page.click("#add-go");
    await page.waitForFunction(() => document.getElementById("added").textContent !== "" ||
                                     document.getElementById("error").textContent !== "", null, {timeout: 20000});
    check(await page.textContent("#added") === "added web-img", "add a dropped image: " + await page.textContent("#error"));
    hits = await search(page);
    same(hits, (await api("/v1/search", {image: dataUrl(drop), k: 5})).json.hits, "dropped image: the hits shown are the API's");
    const mine = hits.find(h => h.id === "web-img");
    check(mine && mine.img && hits[0].id === "web-img", "the dropped image is the top hit, shown as a picture: " + JSON.stringify(hits));
  }

  // errors are shown: a bad filter (caught by the page), a 400 from the server
  await page.fill("#filter", "not json");
  await page.click("#go");
  await page.waitForFunction(() => document.getElementById("error").textContent !== "", null, {timeout: 10000});
  check((await page.textContent("#error")).includes("not JSON"), "a bad filter is reported: " + await page.textContent("#error"));
  await page.fill("#filter", "[1, 2]");   // JSON, but not an object: the server's 400
  await page.evaluate(() => { document.getElementById("error").textContent = ""; });
  await page.click("#go");
  await page.waitForFunction(() => document.getElementById("error").textContent !== "", null, {timeout: 10000});
  const err = await page.textContent("#error");
  check(/^4\d\d: /.test(err), "a server error is shown with its status: " + err);
  await page.fill("#filter", "");
  await page.evaluate(() => { document.getElementById("error").textContent = ""; });
  await search(page);

  await page.screenshot({path: shot, fullPage: true});
  check(pageErrors.length === 0, "no script errors on the page: " + JSON.stringify(pageErrors));
  await browser.close();
  process.exit(failed);
})().catch(e => { console.error("FAILED: " + (e && e.stack || e)); process.exit(1); });
