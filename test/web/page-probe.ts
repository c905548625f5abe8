// What the browser tests read from the status page: the cards' ids in display order, and how much a
// canvas holds that a series drew (coloured pixels, read back from the canvas itself).
import type { Page } from "puppeteer-core";

/** Pixels of a canvas that are coloured (not white, grey or transparent): what the series drew. */
const COLOURED = `(canvas) => {
  const { data } = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
  let n = 0;
  for (let i = 0; i < data.length; i += 4) {
    const r = data[i], g = data[i + 1], b = data[i + 2], a = data[i + 3];
    if (a > 20 && Math.max(r, g, b) - Math.min(r, g, b) > 60) n++;
  }
  return n;
}`;

export function colouredPixels(page: Page, selector: string): Promise<number> {
  return page.$eval(selector, new Function(`return (${COLOURED})(arguments[0])`) as (el: unknown) => number);
}

/** The ids of the cards shown, in order. */
export function shownIds(page: Page): Promise<string[]> {
  return page.$$eval("article.card", (cards) => cards.map((c) => c.getAttribute("data-id") ?? ""));
}
