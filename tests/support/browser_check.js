// Opens the deployed page in headless Chromium the way a visitor would: https on the domain, the certificate
// checked against the roots of Chromium's NSS database ($HOME/.pki/nssdb, where the test puts pebble's root).
// Waits until the page's stream is live, posts a message and waits for the stream to show it, then prints one
// JSON line with the protocol of the page and of the API call ("h2" for HTTP/2).
//
//   PLAYWRIGHT_CORE=<playwright-core folder> node browser_check.js https://DOMAIN DOMAIN
const { chromium } = require(process.env.PLAYWRIGHT_CORE);

async function main() {
  const [url, domain] = process.argv.slice(2);
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
      "--disable-sync", "--no-first-run", "--disable-quic", `--host-resolver-rules=MAP ${domain} 127.0.0.1`],
  });
  try {
    const page = await browser.newPage();
    const topic = `browser-${Date.now()}`;
    await page.goto(`${url}/#${topic}`);
    await page.waitForFunction(() => document.getElementById("status").dataset.state === "live", null, { timeout: 15000 });
    const text = `posted from Chromium over ${topic}`;
    const posted = await page.evaluate(async ([topic, text]) => {
      const response = await fetch(`/api/topics/${topic}/messages`, { method: "POST", headers: { "Content-Type": "text/plain" }, body: text });
      return response.status;
    }, [topic, text]);
    await page.waitForFunction((text) => document.getElementById("messages").textContent.includes(text), text, { timeout: 15000 });
    const protocols = await page.evaluate(() => ({
      page: performance.getEntriesByType("navigation")[0].nextHopProtocol,
      api: performance.getEntriesByType("resource").filter((entry) => entry.name.includes("/messages")).map((entry) => entry.nextHopProtocol),
    }));
    console.log(JSON.stringify({ posted, streamed: true, ...protocols }));
  } finally {
    await browser.close();
  }
}

main().catch((error) => {
  console.error(error.message);
  process.exit(1);
});
