/* NebulaStream dashboard: latest-price cards and a history chart, over the app's own HTTP API. */
"use strict";

(() => {
  // Range -> span, API interval and bucket width. The intervals follow what the lake holds
  // (5-minute fetches; CoinGecko backfills are hourly up to 90 days and daily beyond) and keep
  // every request far below the API's ~10,000-point cap: 288, 168, 180 and 365 buckets.
  const RANGES = {
    "1D": { span: 86400, interval: "5m", step: 300, label: "last day", bucket: "5-minute" },
    "7D": { span: 7 * 86400, interval: "1h", step: 3600, label: "last 7 days", bucket: "hourly" },
    "30D": {
      span: 30 * 86400,
      interval: "4h",
      step: 14400,
      label: "last 30 days",
      bucket: "4-hour",
    },
    "1Y": { span: 365 * 86400, interval: "1d", step: 86400, label: "last year", bucket: "daily" },
  };
  const DEFAULT_RANGE = "1D";

  // The API sits next to the page: ".../dashboard" -> ".../". This holds at the root and under
  // an API Gateway stage ("/dev/dashboard" -> "/dev/"), so no host or stage is ever written here.
  const API_ROOT = location.pathname.replace(/dashboard\/?$/, "");

  const FETCH_INTERVAL = positive(
    document.querySelector('meta[name="nebula-fetch-interval-seconds"]')?.content,
    300,
  );
  // More than two fetch intervals old means at least one scheduled fetch did not land.
  const STALE_AFTER = 2 * FETCH_INTERVAL;

  const COLORS = {
    close: "#7aa2ff",
    band: "rgba(122, 162, 255, 0.16)",
    bandEdge: "rgba(122, 162, 255, 0.35)",
    axis: "#8b98b5",
    grid: "rgba(139, 152, 181, 0.12)",
    gap: "rgba(245, 184, 75, 0.07)",
    gapEdge: "rgba(245, 184, 75, 0.45)",
    alert: "#ff7a90",
    up: "#3ecf8e",
    down: "#ff6b81",
    none: "rgba(0, 0, 0, 0)",
  };
  // A range is drawn as candles when more than this share of its buckets come from candle
  // sources only (GET /sources says which sources serve candles).
  const CANDLE_SHARE = 0.5;

  const $ = (id) => document.getElementById(id);
  const el = {
    status: $("status"),
    banner: $("banner"),
    cards: $("cards"),
    title: $("chart-title"),
    readout: $("readout"),
    ranges: $("ranges"),
    chart: $("chart"),
    message: $("chart-message"),
    alertsPanel: $("alerts-panel"),
    alerts: $("alerts"),
    alertsSummary: $("alerts-summary"),
    chartSources: $("chart-sources"),
    attribution: $("attribution"),
    legend: $("legend"),
  };

  const state = {
    coins: [], // configured symbols, in configured order
    latest: new Map(), // symbol -> newest stored observation
    latestLoaded: false,
    latestError: null,
    coin: null,
    range: DEFAULT_RANGE,
    view: null, // what the chart shows: {coin, range, start, end, x, open, high, low, close, samples, gaps}
    chart: null,
    historyController: null,
    lastRefresh: null,
    firstChart: false,
    rules: [], // GET /alerts: rules with their state
    firings: [], // GET /alerts/history since the chart's start: what fired, with values
    sources: new Map(), // GET /sources: name -> {title, kind, terms}, in best's order
    coverage: new Map(), // GET /coins: symbol -> {completeness, completeness_30d, gaps, missing_slots}
  };

  // ---------------------------------------------------------------- formatting

  function positive(text, fallback) {
    const n = Number(text);
    return Number.isFinite(n) && n > 0 ? n : fallback;
  }

  const USD2 = new Intl.NumberFormat("en-US", {
    style: "currency",
    currency: "USD",
    minimumFractionDigits: 2,
    maximumFractionDigits: 2,
  });
  const USD_SMALL = new Intl.NumberFormat("en-US", {
    style: "currency",
    currency: "USD",
    maximumSignificantDigits: 4,
  });

  function usd(value) {
    if (value == null || !Number.isFinite(value)) return "—";
    return Math.abs(value) >= 1 ? USD2.format(value) : USD_SMALL.format(value);
  }

  function usdTick(value, increment) {
    // As many decimals as the tick step has (2.5 -> 1, 0.25 -> 2), so labels never round.
    const digits = Math.min(
      8,
      (String(+(increment || 1).toPrecision(6)).split(".")[1] || "").length,
    );
    return new Intl.NumberFormat("en-US", {
      style: "currency",
      currency: "USD",
      minimumFractionDigits: digits,
      maximumFractionDigits: digits,
    }).format(value);
  }

  function pct(value) {
    if (value == null || !Number.isFinite(value)) return "—";
    const sign = value > 0 ? "+" : value < 0 ? "−" : "";
    return `${sign}${Math.abs(value).toFixed(2)}%`;
  }

  const pad = (n) => String(n).padStart(2, "0");
  const hhmm = (d) => `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
  const DAY = new Intl.DateTimeFormat("en-GB", {
    timeZone: "UTC",
    day: "numeric",
    month: "short",
    year: "numeric",
  });

  const MONTHS = [
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "May",
    "Jun",
    "Jul",
    "Aug",
    "Sep",
    "Oct",
    "Nov",
    "Dec",
  ];

  // Time-axis labels in UTC, 24-hour: "06:00", with the date under midnights and the first tick.
  function timeTicks(_u, splits, _axis, _space, increment) {
    return splits.map((split, i) => {
      const d = new Date(split * 1000);
      const month = MONTHS[d.getUTCMonth()];
      const year = d.getUTCFullYear();
      if (increment >= 28 * 86400) {
        return i === 0 || d.getUTCMonth() === 0 ? `${month}\n${year}` : month;
      }
      const day = `${d.getUTCDate()} ${month}`;
      if (increment >= 86400) return i === 0 ? `${day}\n${year}` : day;
      const midnight = d.getUTCHours() === 0 && d.getUTCMinutes() === 0;
      return i === 0 || midnight ? `${hhmm(d)}\n${day}` : hhmm(d);
    });
  }

  function when(seconds) {
    const d = new Date(seconds * 1000);
    const today = Math.floor(Date.now() / 86400000) === Math.floor(seconds / 86400);
    return today ? `${hhmm(d)} UTC` : `${DAY.format(d)} ${hhmm(d)} UTC`;
  }

  function ago(seconds) {
    const s = Math.max(0, Math.round(seconds));
    if (s < 60) return "just now";
    const m = Math.floor(s / 60);
    if (m < 60) return `${m} min ago`;
    const h = Math.floor(m / 60);
    if (h < 48) return m % 60 ? `${h} h ${m % 60} min ago` : `${h} h ago`;
    return `${Math.floor(h / 24)} days ago`;
  }

  // RFC 3339 UTC with "Z", no milliseconds: what the API documents for start/end.
  const rfc3339 = (seconds) => new Date(seconds * 1000).toISOString().replace(".000Z", "Z");
  const epoch = (text) => Date.parse(text) / 1000;
  const nowSeconds = () => Date.now() / 1000;

  // ---------------------------------------------------------------- API

  class ApiError extends Error {}

  // `fresh` skips the HTTP cache: answers may be cached until the next slot, but a scheduled
  // fetch can land after that boundary, and a refresh must not be answered from before it.
  async function api(path, params, { signal, fresh = false } = {}) {
    const query = params ? `?${new URLSearchParams(params)}` : "";
    let response;
    try {
      response = await fetch(`${API_ROOT}${path}${query}`, {
        signal,
        cache: fresh ? "no-cache" : "default",
        headers: { Accept: "application/json" },
      });
    } catch (error) {
      if (error.name === "AbortError") throw error;
      throw new ApiError(
        "The API did not answer. Check that `nebula serve` (or the deployed stage) is running, then retry.",
      );
    }
    if (!response.ok) {
      throw new ApiError(`${path} answered ${response.status}: ${await errorDetail(response)}`);
    }
    return response.json();
  }

  async function errorDetail(response) {
    try {
      const body = await response.json();
      const detail = body.detail ?? body.message ?? body;
      if (typeof detail === "string") return detail;
      if (Array.isArray(detail)) return detail.map((e) => e.msg ?? JSON.stringify(e)).join("; ");
      return JSON.stringify(detail);
    } catch {
      return response.statusText || "no details given";
    }
  }

  // ---------------------------------------------------------------- cards

  function renderCards() {
    el.cards.replaceChildren(
      ...state.coins.map((coin) => {
        const card = document.createElement("button");
        card.type = "button";
        card.className = "card loading";
        card.dataset.coin = coin;
        card.setAttribute("role", "tab");
        card.innerHTML = `
          <span class="card-head"><span class="sym"></span><span class="badge" hidden>stale</span></span>
          <span class="price">…</span>
          <span class="change">&nbsp;</span>
          <span class="age">loading latest price…</span>
          <span class="coverage">&nbsp;</span>`;
        card.querySelector(".sym").textContent = coin;
        card.addEventListener("click", () => select(coin, state.range));
        return card;
      }),
    );
    markSelection();
  }

  // "99.93% complete · 2 gaps": the share of 5-minute slots held since the coin's first
  // observation and the runs of missing ones (GET /coins, docs/heal.md).
  function paintCoverage(card) {
    const line = card.querySelector(".coverage");
    const c = state.coverage.get(card.dataset.coin);
    line.classList.remove("gappy");
    if (!c || c.completeness == null) {
      line.innerHTML = "&nbsp;";
      line.removeAttribute("title");
      delete line.dataset.gaps;
      return;
    }
    const share = (value) => `${(Math.floor(value * 10000) / 100).toFixed(2)}%`;
    line.dataset.gaps = String(c.gaps);
    line.textContent = `${share(c.completeness)} complete · ${c.gaps} gap${c.gaps === 1 ? "" : "s"}`;
    line.classList.toggle("gappy", c.gaps > 0);
    line.title =
      `${c.missing_slots} missing 5-minute slot${c.missing_slots === 1 ? "" : "s"} since the ` +
      `first observation; last 30 days ${share(c.completeness_30d ?? 0)} complete. ` +
      "`nebula heal` (hourly in `nebula run`) refills gaps from the sources that still have them.";
  }

  function updateCards() {
    const now = nowSeconds();
    for (const card of el.cards.querySelectorAll(".card")) {
      paintCoverage(card);
      const row = state.latest.get(card.dataset.coin);
      const price = card.querySelector(".price");
      const change = card.querySelector(".change");
      const age = card.querySelector(".age");
      const badge = card.querySelector(".badge");
      card.classList.remove("loading", "empty", "stale", "failed");
      badge.hidden = true;
      card.removeAttribute("title");
      if (!row) {
        change.className = "change";
        change.innerHTML = "&nbsp;";
        if (!state.latestLoaded) {
          card.classList.add(state.latestError ? "failed" : "loading");
          price.textContent = state.latestError ? "—" : "…";
          age.textContent = state.latestError ? "could not load" : "loading latest price…";
        } else {
          card.classList.add("empty");
          price.textContent = "No prices yet";
          age.textContent = "nothing stored for this coin";
        }
        continue;
      }
      price.textContent = usd(row.price_usd);
      price.dataset.value = String(row.price_usd);
      const c = row.change_24h_pct;
      change.className = `change ${c > 0 ? "up" : c < 0 ? "down" : ""}`;
      change.textContent = `${c > 0 ? "▲" : c < 0 ? "▼" : ""} ${pct(c)} 24h`.trim();
      const seconds = now - epoch(row.ts);
      age.textContent = `${ago(seconds)} · ${when(epoch(row.ts))}`;
      if (seconds > STALE_AFTER) {
        card.classList.add("stale");
        badge.hidden = false;
        card.title =
          `The newest ${row.coin} price is ${ago(seconds)}; fetches run every ` +
          `${Math.round(FETCH_INTERVAL / 60)} min. Check that \`nebula run\` or the fetch Lambda is running.`;
      }
    }
  }

  function markSelection() {
    for (const card of el.cards.querySelectorAll(".card")) {
      const on = card.dataset.coin === state.coin;
      card.classList.toggle("selected", on);
      card.setAttribute("aria-selected", String(on));
    }
    for (const button of el.ranges.querySelectorAll("button")) {
      button.setAttribute("aria-pressed", String(button.dataset.range === state.range));
    }
  }

  async function loadLatest({ fresh = false } = {}) {
    try {
      const body = await api("prices/latest", null, { fresh });
      state.latest = new Map(body.prices.map((row) => [row.coin, row]));
      state.latestLoaded = true;
      state.latestError = null;
      hideBanner("latest");
    } catch (error) {
      state.latestError = error;
      showBanner(
        "latest",
        `Latest prices could not be loaded: ${error.message} The page tries again every ` +
          `${Math.round(FETCH_INTERVAL / 60)} min.`,
      );
    }
    updateCards();
    paintAttribution();
    if (state.latestLoaded && state.latest.size === 0) {
      showBanner(
        "empty",
        "The lake holds no prices yet. Run `nebula fetch` once (or keep `nebula run` going) and this " +
          "page fills in at its next refresh.",
      );
    } else {
      hideBanner("empty");
    }
  }

  // ---------------------------------------------------------------- banner and status

  const banners = new Map();
  function showBanner(key, text) {
    banners.set(key, text);
    paintBanner();
  }
  function hideBanner(key) {
    banners.delete(key);
    paintBanner();
  }
  function paintBanner() {
    el.banner.hidden = banners.size === 0;
    el.banner.replaceChildren(
      ...[...banners.values()].map((text) => {
        const p = document.createElement("p");
        p.textContent = text;
        return p;
      }),
    );
  }

  function paintStatus() {
    if (!state.lastRefresh) return;
    const next = state.lastRefresh + FETCH_INTERVAL;
    el.status.textContent = `Updated ${when(state.lastRefresh)} · next refresh ${hhmm(new Date(next * 1000))} UTC`;
  }

  // ---------------------------------------------------------------- chart

  function chartHeight() {
    return Math.max(240, Math.min(420, Math.round(window.innerHeight * 0.45)));
  }

  const candleMode = () => Boolean(state.view?.candles);
  const lineColor = (color) => () => (candleMode() ? COLORS.none : color);

  // Points with no neighbour would be invisible on a line: draw those as dots.
  function lonePoints(u, seriesIdx, show) {
    if (show || candleMode()) return null;
    const ys = u.data[seriesIdx];
    const idxs = [];
    for (let i = 0; i < ys.length; i++) {
      if (ys[i] != null && ys[i - 1] == null && ys[i + 1] == null) idxs.push(i);
    }
    return idxs.length ? idxs : null;
  }

  function shadeGaps(u) {
    const view = state.view;
    if (!view || !view.gaps.length) return;
    const { ctx } = u;
    const top = u.bbox.top;
    const height = u.bbox.height;
    ctx.save();
    for (const [from, to] of view.gaps) {
      const x0 = Math.max(u.bbox.left, u.valToPos(from, "x", true));
      const x1 = Math.min(u.bbox.left + u.bbox.width, u.valToPos(to, "x", true));
      if (x1 - x0 < 1) continue;
      ctx.fillStyle = COLORS.gap;
      ctx.fillRect(x0, top, x1 - x0, height);
      ctx.strokeStyle = COLORS.gapEdge;
      ctx.setLineDash([4, 4]);
      ctx.beginPath();
      ctx.moveTo(Math.round(x0) + 0.5, top);
      ctx.lineTo(Math.round(x0) + 0.5, top + height);
      ctx.moveTo(Math.round(x1) - 0.5, top);
      ctx.lineTo(Math.round(x1) - 0.5, top + height);
      ctx.stroke();
      const px = uPlot.pxRatio;
      ctx.font = `${11 * px}px system-ui, sans-serif`;
      if (x1 - x0 > ctx.measureText("no data").width + 10 * px) {
        ctx.fillStyle = COLORS.gapEdge;
        ctx.textAlign = "center";
        ctx.fillText("no data", (x0 + x1) / 2, top + 16 * px);
      }
    }
    ctx.restore();
  }

  // Candle mode: a wick from low to high and a body from open to close per bucket, green when
  // it closed at or above its open. data-candles counts what was drawn.
  function drawCandles(u) {
    const view = state.view;
    let drawn = 0;
    if (view && view.candles) {
      const { ctx } = u;
      const step = RANGES[view.range].step;
      const px = uPlot.pxRatio;
      const slot = u.valToPos(view.start + step, "x", true) - u.valToPos(view.start, "x", true);
      const body = Math.max(1 * px, Math.min(14 * px, slot * 0.7));
      ctx.save();
      for (let i = 0; i < view.x.length; i++) {
        if (view.close[i] == null) continue;
        const x = Math.round(u.valToPos(view.x[i] + step / 2, "x", true));
        const [o, h, l, c] = ["open", "high", "low", "close"].map((k) =>
          u.valToPos(view[k][i], "y", true),
        );
        const color = view.close[i] >= view.open[i] ? COLORS.up : COLORS.down;
        ctx.strokeStyle = color;
        ctx.fillStyle = color;
        ctx.lineWidth = 1 * px;
        ctx.beginPath();
        ctx.moveTo(x + 0.5, h);
        ctx.lineTo(x + 0.5, l);
        ctx.stroke();
        ctx.fillRect(x - body / 2, Math.min(o, c), body, Math.max(1 * px, Math.abs(c - o)));
        drawn += 1;
      }
      ctx.restore();
    }
    el.chart.dataset.candles = String(drawn);
  }

  // One mark per alert firing of the charted coin: a dashed line at its time and, for price
  // rules, a diamond at the stored price it fired on. data-markers counts what was drawn.
  function markFirings(u) {
    const view = state.view;
    let drawn = 0;
    if (view) {
      const { ctx } = u;
      const { left, top, width, height } = u.bbox;
      const px = uPlot.pxRatio;
      ctx.save();
      for (const f of state.firings) {
        const ts = epoch(f.ts);
        if (f.coin !== view.coin || ts < view.start || ts > view.end) continue;
        const x = u.valToPos(ts, "x", true);
        if (x < left || x > left + width) continue;
        ctx.strokeStyle = COLORS.alert;
        ctx.lineWidth = 1 * px;
        ctx.setLineDash([2 * px, 3 * px]);
        ctx.beginPath();
        ctx.moveTo(Math.round(x) + 0.5, top);
        ctx.lineTo(Math.round(x) + 0.5, top + height);
        ctx.stroke();
        ctx.setLineDash([]);
        const y = f.kind === "stale" ? top + 8 * px : u.valToPos(f.value, "y", true);
        const r = 5 * px;
        ctx.fillStyle = COLORS.alert;
        ctx.beginPath();
        ctx.moveTo(x, y - r);
        ctx.lineTo(x + r, y);
        ctx.lineTo(x, y + r);
        ctx.lineTo(x - r, y);
        ctx.closePath();
        ctx.fill();
        drawn += 1;
      }
      ctx.restore();
    }
    el.chart.dataset.markers = String(drawn);
  }

  function showReadout(u) {
    const view = state.view;
    const i = u.cursor.idx;
    if (!view) return;
    if (i == null || view.close[i] == null) {
      el.readout.textContent = summary(view);
      return;
    }
    const step = RANGES[view.range].step;
    const fired = state.firings.filter(
      (f) => f.coin === view.coin && epoch(f.ts) >= view.x[i] && epoch(f.ts) < view.x[i] + step,
    );
    if (fired.length) {
      el.readout.textContent = fired.map((f) => `alert ${f.text}`).join(" · ");
      return;
    }
    const n = view.samples[i];
    const from = `${n} sample${n === 1 ? "" : "s"} · ${titles(view.sources[i]).join(", ")}`;
    if (view.high[i] === view.low[i]) {
      el.readout.textContent = `${when(view.x[i])} · ${usd(view.close[i])} · ${from}`;
      return;
    }
    el.readout.textContent =
      `${when(view.x[i])} · O ${usd(view.open[i])} H ${usd(view.high[i])} ` +
      `L ${usd(view.low[i])} C ${usd(view.close[i])} · ${from}`;
  }

  function summary(view) {
    const closes = view.close.filter((v) => v != null);
    if (!closes.length) return "\u00a0";
    const first = view.open.find((v) => v != null);
    const last = closes[closes.length - 1];
    const hi = Math.max(...view.high.filter((v) => v != null));
    const lo = Math.min(...view.low.filter((v) => v != null));
    const change = first ? ((last - first) / first) * 100 : null;
    return (
      `${usd(last)} · ${pct(change)} over the ${RANGES[view.range].label} · ` +
      `high ${usd(hi)} · low ${usd(lo)} · ${closes.length} ${RANGES[view.range].bucket} buckets`
    );
  }

  function makeChart() {
    return new uPlot(
      {
        width: Math.max(300, el.chart.clientWidth),
        height: chartHeight(),
        tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"),
        legend: { show: false },
        cursor: { drag: { x: false, y: false }, points: { size: 7 } },
        scales: {
          // The x scale spans the requested range, so missing data at either end shows as empty.
          x: {
            time: true,
            range: () => (state.view ? [state.view.start, state.view.end] : [0, 1]),
          },
        },
        series: [
          {},
          // In candle mode the line and band give way to the candles (drawCandles); they stay
          // in the data, so the y scale and the cursor work alike in both modes.
          { label: "High", stroke: lineColor(COLORS.bandEdge), width: 1, points: { show: false } },
          { label: "Low", stroke: lineColor(COLORS.bandEdge), width: 1, points: { show: false } },
          {
            label: "Close",
            stroke: lineColor(COLORS.close),
            width: 2,
            points: { size: 5, fill: COLORS.close, filter: lonePoints },
          },
        ],
        bands: [{ series: [1, 2], fill: lineColor(COLORS.band) }],
        axes: [
          {
            stroke: COLORS.axis,
            grid: { stroke: COLORS.grid },
            ticks: { stroke: COLORS.grid },
            values: timeTicks,
          },
          {
            stroke: COLORS.axis,
            grid: { stroke: COLORS.grid },
            ticks: { stroke: COLORS.grid },
            size: 86,
            values: (u, splits, _axis, _space, increment) =>
              splits.map((v) => usdTick(v, increment)),
          },
        ],
        hooks: {
          drawAxes: [shadeGaps],
          draw: [drawCandles, markFirings],
          setCursor: [showReadout],
        },
      },
      [[], [], [], []],
      el.chart,
    );
  }

  // API points -> chart columns. A null after a missing bucket breaks the line, so a gap in
  // the data is a gap on screen instead of a straight segment across it.
  function toView(coin, range, start, end, points) {
    const { step } = RANGES[range];
    const view = {
      coin,
      range,
      start,
      end,
      x: [],
      open: [],
      high: [],
      low: [],
      close: [],
      samples: [],
      sources: [],
      gaps: [],
      candles: false,
    };
    let previous = null;
    for (const p of points) {
      const ts = epoch(p.ts);
      if (previous != null && ts - previous > step) {
        view.gaps.push([previous + step, ts]);
        pushRow(view, previous + step, null);
      }
      pushRow(view, ts, p);
      previous = ts;
    }
    const fromCandles = points.filter((p) =>
      p.sources.every((name) => state.sources.get(name)?.kind === "candles"),
    ).length;
    view.candles = points.length > 0 && fromCandles > points.length * CANDLE_SHARE;
    // Missing data at the ends counts as a gap once it spans more than the bucket in progress.
    if (points.length) {
      const first = epoch(points[0].ts);
      if (first - start >= step) view.gaps.unshift([start, first]);
      if (end - (previous + step) > step) view.gaps.push([previous + step, end]);
    }
    return view;
  }

  function pushRow(view, ts, p) {
    view.x.push(ts);
    view.open.push(p ? p.open : null);
    view.high.push(p ? p.high : null);
    view.low.push(p ? p.low : null);
    view.close.push(p ? p.close : null);
    view.samples.push(p ? p.samples : null);
    view.sources.push(p ? p.sources : []);
  }

  // ---------------------------------------------------------------- attribution

  // Registry names -> titles, in best's order (unknown names as they are).
  function titles(names) {
    const known = [...state.sources.keys()].filter((name) => names.includes(name));
    const other = names.filter((name) => !state.sources.has(name));
    return [...known, ...other].map((name) => state.sources.get(name)?.title ?? name);
  }

  // "Data: CoinGecko, Coinbase Exchange via NebulaStream" under the chart (what it shows) and
  // in the footer (everything on the page), each title linked to the terms it comes with.
  function paintAttribution() {
    const charted = new Set(state.view ? state.view.sources.flat() : []);
    const shown = new Set(charted);
    for (const row of state.latest.values()) shown.add(row.source);
    attribute(el.chartSources, [...charted]);
    attribute(el.attribution, [...shown]);
    el.chart.dataset.sources = [...charted].sort().join(",");
  }

  function attribute(target, names) {
    if (!names.length) {
      target.textContent = "";
      return;
    }
    const parts = [document.createTextNode("Data: ")];
    titles(names).forEach((title, i) => {
      const name = [...state.sources.keys()].find((n) => state.sources.get(n).title === title);
      const terms = name ? state.sources.get(name).terms : "";
      const url = terms.match(/https?:\/\/[^\s)]+/)?.[0];
      if (i) parts.push(document.createTextNode(", "));
      const link = document.createElement(url ? "a" : "span");
      link.textContent = title;
      if (url) {
        link.href = url;
        link.rel = "noopener";
      }
      if (terms) link.title = terms;
      parts.push(link);
    });
    parts.push(document.createTextNode(" via NebulaStream"));
    target.replaceChildren(...parts);
  }

  function chartState(kind, text, retry) {
    el.chart.dataset.state = kind;
    el.chart.classList.toggle("dim", kind !== "ready");
    el.message.hidden = kind === "ready";
    el.message.className = `chart-message ${kind}`;
    el.message.replaceChildren(document.createTextNode(text));
    if (retry) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = "Retry";
      button.addEventListener("click", () => refresh());
      el.message.append(" ", button);
    }
  }

  async function loadHistory({ quiet = false, fresh = false } = {}) {
    const { coin, range } = state;
    if (!coin || !state.chart) return; // no chart library: its error stays on screen
    const { span, interval, step } = RANGES[range];
    const end = (Math.floor(nowSeconds() / step) + 1) * step; // include the bucket in progress
    const start = end - span;
    el.title.textContent = `${coin} · ${RANGES[range].label} · ${RANGES[range].bucket} close (USD)`;

    state.historyController?.abort();
    const controller = new AbortController();
    state.historyController = controller;
    if (!quiet || !state.view || state.view.coin !== coin || state.view.range !== range) {
      chartState("loading", `Loading ${coin} prices for the ${RANGES[range].label}…`);
    }
    let body;
    try {
      body = await api(
        "prices/history",
        { coin, interval, start: rfc3339(start), end: rfc3339(end) },
        { signal: controller.signal, fresh },
      );
    } catch (error) {
      if (error.name === "AbortError") return;
      if (quiet && state.view && state.view.coin === coin && state.view.range === range) {
        showBanner(
          "history",
          `Refreshing the chart failed: ${error.message} Showing the last data loaded.`,
        );
        return;
      }
      state.view = null;
      setChartData([[], [], [], []]);
      chartState("error", `Could not load ${coin} history: ${error.message}`, true);
      return;
    }
    if (controller !== state.historyController) return; // a newer selection won
    hideBanner("history");
    state.view = toView(coin, range, start, end, body.points);
    const v = state.view;
    const drawn = v.candles ? "candles" : "close";
    el.title.textContent = `${coin} · ${RANGES[range].label} · ${RANGES[range].bucket} ${drawn} (USD)`;
    el.chart.dataset.mode = v.candles ? "candles" : "line";
    el.legend.dataset.mode = el.chart.dataset.mode;
    setChartData([v.x, v.high, v.low, v.close]);
    paintAttribution();
    el.readout.textContent = summary(v);
    if (!body.points.length) {
      chartState("empty", emptyText(coin, range));
      return;
    }
    chartState("ready", "");
    if (!state.firstChart) {
      state.firstChart = true;
      performance.mark("nebula:first-chart");
    }
  }

  function emptyText(coin, range) {
    const newest = state.latest.get(coin);
    if (newest) {
      return (
        `No ${coin} prices in the ${RANGES[range].label}: the newest is from ` +
        `${DAY.format(new Date(newest.ts))} (${ago(nowSeconds() - epoch(newest.ts))}). ` +
        "Pick a longer range, or check that `nebula run` or the fetch Lambda is running."
      );
    }
    return (
      `Nothing is stored for ${coin} yet. \`nebula fetch\` stores the configured coins ` +
      `(\`nebula run\` every ${Math.round(FETCH_INTERVAL / 60)} min); ` +
      `\`nebula backfill --coins ${coin}\` loads its history.`
    );
  }

  function setChartData(data) {
    if (!state.chart) return;
    state.chart.setData(data);
    // What the chart really holds: points, and the nulls that break its line at gaps.
    const closes = state.chart.data[3];
    const points = closes.filter((v) => v != null).length;
    el.chart.dataset.points = String(points);
    el.chart.dataset.breaks = String(closes.length - points);
  }

  // ---------------------------------------------------------------- alerts

  // The rules and their firings since the start of the longest range. Without rules the
  // panel stays hidden; an alerts failure never disturbs the prices.
  async function loadAlerts({ fresh = false } = {}) {
    const since = nowSeconds() - RANGES["1Y"].span;
    let rules;
    let history;
    try {
      [rules, history] = await Promise.all([
        api("alerts", null, { fresh }),
        api("alerts/history", { since: rfc3339(since) }, { fresh }),
      ]);
    } catch (error) {
      if (error.name === "AbortError") return;
      el.alertsSummary.textContent = `Could not load alerts: ${error.message}`;
      return;
    }
    state.rules = rules.rules;
    state.firings = history.firings;
    renderAlerts(rules.problem);
    state.chart?.redraw(false, false);
  }

  function renderAlerts(problem) {
    el.alertsPanel.hidden = !state.rules.length && !problem;
    const active = state.rules.filter((r) => r.state === "firing");
    el.alertsSummary.textContent = problem
      ? `The rules file cannot be used: ${problem}`
      : `${active.length} of ${state.rules.length} firing`;
    // Firing rules first: those are the active alerts.
    const ordered = [...active, ...state.rules.filter((r) => r.state !== "firing")];
    el.alerts.replaceChildren(
      ...ordered.map((rule) => {
        const item = document.createElement("li");
        item.dataset.rule = rule.name;
        item.dataset.state = rule.state;
        const badge = document.createElement("span");
        badge.className = "alert-state";
        badge.textContent = rule.state;
        const name = document.createElement("strong");
        name.textContent = rule.name;
        const condition = document.createElement("span");
        condition.textContent = rule.condition;
        const last = document.createElement("span");
        last.className = "alert-when";
        last.textContent = rule.last_fired
          ? `last fired ${when(epoch(rule.last_fired))}`
          : "has not fired";
        item.append(badge, name, condition, last);
        return item;
      }),
    );
  }

  // ---------------------------------------------------------------- selection and refresh

  function readHash() {
    const params = new URLSearchParams(location.hash.slice(1));
    const coin = (params.get("coin") || "").toUpperCase();
    const range = (params.get("range") || "").toUpperCase();
    return {
      coin: state.coins.includes(coin) ? coin : (state.coins[0] ?? null),
      range: range in RANGES ? range : DEFAULT_RANGE,
    };
  }

  function select(coin, range) {
    if (coin === state.coin && range === state.range && state.view) return;
    state.coin = coin;
    state.range = range;
    history.replaceState(null, "", `#${new URLSearchParams({ coin, range })}`);
    markSelection();
    loadHistory();
  }

  async function refresh({ fresh = true } = {}) {
    state.lastRefresh = nowSeconds();
    if (await loadCoins({ fresh })) {
      await Promise.all([
        loadLatest({ fresh }),
        loadHistory({ quiet: true, fresh }),
        loadAlerts({ fresh }),
      ]);
    }
    paintStatus();
  }

  // The configured coins (so a coin with nothing stored yet still gets a card) and the
  // sources, once; each coin's completeness on every refresh.
  async function loadCoins({ fresh }) {
    if (state.coins.length) {
      try {
        const body = await api("coins", null, { fresh });
        state.coverage = new Map(body.coins.map((c) => [c.coin, c]));
        hideBanner("coins");
      } catch (error) {
        showBanner("coins", `Completeness could not be refreshed: ${error.message}`);
      }
      return true;
    }
    try {
      const [body, registry] = await Promise.all([
        api("coins", null, { fresh }),
        api("sources", null, { fresh }),
      ]);
      state.coins = body.coins.map((c) => c.coin);
      state.coverage = new Map(body.coins.map((c) => [c.coin, c]));
      state.sources = new Map(registry.sources.map((s) => [s.source, s]));
    } catch (error) {
      chartState("error", `Could not load the coin list: ${error.message}`, true);
      return false;
    }
    renderCards();
    const initial = readHash();
    state.coin = initial.coin;
    state.range = initial.range;
    markSelection();
    if (!state.coin) {
      chartState("empty", "No coins are configured: set NEBULA_COINS (e.g. BTC,ETH,SOL).");
    }
    return true;
  }

  async function start() {
    for (const button of el.ranges.querySelectorAll("button")) {
      button.addEventListener("click", () => select(state.coin, button.dataset.range));
    }
    if (typeof uPlot === "undefined") {
      chartState(
        "error",
        "The chart library is missing from this build (api/static/vendor). Run `make install` to build it.",
      );
    } else {
      state.chart = makeChart();
      new ResizeObserver(() => {
        state.chart.setSize({ width: Math.max(300, el.chart.clientWidth), height: chartHeight() });
      }).observe(el.chart.parentElement);
    }

    await refresh({ fresh: false });

    // Refresh on each fetch interval; ages and stale marks move on in between.
    setInterval(refresh, FETCH_INTERVAL * 1000);
    setInterval(() => {
      updateCards();
      paintStatus();
    }, 15000);
    document.addEventListener("visibilitychange", () => {
      if (
        document.visibilityState === "visible" &&
        nowSeconds() - state.lastRefresh > FETCH_INTERVAL
      ) {
        refresh();
      }
    });
    window.addEventListener("hashchange", () => {
      const wanted = readHash();
      select(wanted.coin, wanted.range);
    });
  }

  start();
})();
