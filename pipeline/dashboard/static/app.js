/* hashwatch dashboard: renders /api/snapshot, then applies the /events stream.
 *
 * Post text, handles, hashtags and alert summaries are untrusted. They reach the page only
 * through textContent, Text nodes or checked attributes (links must be http(s)), never
 * through innerHTML; each text element gets dir="auto" so Arabic, Persian, Urdu and Hebrew
 * read right to left, and lang= from the detected language so the right font is chosen.
 */
(() => {
  "use strict";

  const FEED_MAX = 60;
  const TOKEN_KEY = "hashwatch.dashboard.token";
  const PLATFORM_KEY = "hashwatch.dashboard.platform";
  const PLATFORM_NAMES = { all: "All platforms", x: "X", mastodon: "Mastodon", bluesky: "Bluesky" };
  const ORIGINALS = "#2563eb";
  const REPOSTS = "#f59e0b";
  const PALETTE = [
    "#2563eb", "#f59e0b", "#10b981", "#8b5cf6", "#ef4444", "#06b6d4",
    "#ec4899", "#84cc16", "#f97316", "#94a3b8",
  ];
  const MEDIA_COLORS = {
    photo: "#16a34a", video: "#dc2626", animated_gif: "#c026d3", audio: "#0284c7",
    unknown: "#94a3b8",
  };
  const MEDIA_NAMES = {
    photo: "Photos", video: "Videos", animated_gif: "GIFs", audio: "Audio", unknown: "Other",
  };
  const STEPS = [
    [60, "per minute"], [300, "per 5 minutes"], [900, "per 15 minutes"],
    [1800, "per 30 minutes"], [3600, "per hour"], [10800, "per 3 hours"],
    [21600, "per 6 hours"], [86400, "per day"], [604800, "per week"],
  ];
  const MAX_BARS = 120;
  const MIN_BARS = 30;

  const nf = new Intl.NumberFormat("en-US");
  const nf1 = new Intl.NumberFormat("en-US", { maximumFractionDigits: 1 });
  const num1 = (n) => nf1.format(n || 0);
  const fmt = (n) => nf.format(n || 0);
  const pct = (n, total) => (total ? `${Math.round((100 * n) / total)}%` : "–");
  const $ = (id) => document.getElementById(id);
  let langNames = null;
  try {
    langNames = new Intl.DisplayNames(["en"], { type: "language" });
  } catch (_) {
    langNames = null;
  }

  const S = {
    token: null,
    minutes: new Map(), // minute start (epoch s) -> [originals, reposts]
    platformMinutes: new Map(), // platform -> its own minutes map
    platform: "all", // what the counts, charts and feed show: "all" or one platform
    feed: [], // newest first
    pending: [], // arrived while paused
    lastSeq: 0,
    alerts: new Map(),
    gaps: [],
    agg: null,
    dismissed: new Set(),
    charts: {},
    es: null,
    lastMessage: 0,
    connected: false,
  };

  // ---- safe DOM building ------------------------------------------------------------------

  function safeUrl(value) {
    if (typeof value !== "string" || !value) return null;
    try {
      const url = new URL(value, window.location.href);
      return url.protocol === "https:" || url.protocol === "http:" ? url.href : null;
    } catch (_) {
      return null;
    }
  }

  function safeLang(code) {
    return typeof code === "string" && code !== "und" && /^[a-z]{2,3}(-[a-z0-9]{2,8})*$/i.test(code)
      ? code
      : null;
  }

  /** An element; children may be nodes or strings (strings become Text nodes). */
  function h(tag, opts, ...children) {
    const node = document.createElement(tag);
    const o = opts || {};
    if (o.cls) node.className = o.cls;
    if (o.text !== undefined && o.text !== null) node.textContent = String(o.text);
    if (o.title) node.title = String(o.title);
    if (o.dir) node.dir = o.dir;
    const lang = safeLang(o.lang);
    if (lang) node.lang = lang;
    if (o.href) {
      const url = safeUrl(o.href);
      if (url) {
        node.href = url;
        node.target = "_blank";
        node.rel = "noopener noreferrer";
      }
    }
    if (o.data) for (const [k, v] of Object.entries(o.data)) node.dataset[k] = String(v);
    for (const child of children) if (child !== null && child !== undefined) node.append(child);
    return node;
  }

  /** Untrusted text, shown as text, direction from its own content. */
  function userText(tag, text, cls, lang) {
    return h(tag, { cls, text: text || "", dir: "auto", lang });
  }

  function langName(code) {
    if (!code || code === "und") return "undetermined";
    try {
      return (langNames && langNames.of(code)) || code;
    } catch (_) {
      return code;
    }
  }

  function showEmpty(id, empty) {
    const node = $(id);
    if (node) node.hidden = !empty;
  }

  // ---- time ---------------------------------------------------------------------------------

  function parseTime(iso) {
    const d = iso ? new Date(iso) : null;
    return d && !Number.isNaN(d.getTime()) ? d : null;
  }

  function utc(d, withDate, withSeconds) {
    const s = d.toISOString();
    const time = withSeconds ? s.slice(11, 19) : s.slice(11, 16);
    return withDate ? `${s.slice(0, 10)} ${time}` : time;
  }

  function when(iso) {
    const d = parseTime(iso);
    if (!d) return "";
    const last = S.agg && parseTime(S.agg.totals.last_event);
    const sameDay = last && last.toISOString().slice(0, 10) === d.toISOString().slice(0, 10);
    return sameDay ? `${utc(d, false, true)} UTC` : `${utc(d, true, false)} UTC`;
  }

  /** HH:MM when on the day of the latest post, else the date too. */
  function shortTime(iso) {
    const d = parseTime(iso);
    if (!d) return "";
    const last = S.agg && parseTime(S.agg.totals.last_event);
    const sameDay = last && last.toISOString().slice(0, 10) === d.toISOString().slice(0, 10);
    return utc(d, !sameDay);
  }

  const SEVERITY_RANK = { critical: 0, warning: 1, info: 2 };
  /** Latest campaign window first; within one window, the most severe first. */
  function alertOrder(a, b) {
    return (b.window_start || "").localeCompare(a.window_start || "") ||
      (SEVERITY_RANK[a.severity] ?? 3) - (SEVERITY_RANK[b.severity] ?? 3);
  }

  function duration(ms) {
    const s = Math.round((ms || 0) / 1000);
    const m = Math.floor(s / 60);
    return `${m}:${String(s % 60).padStart(2, "0")}`;
  }

  function span(startIso, endIso) {
    const a = parseTime(startIso);
    const b = endIso ? parseTime(endIso) : new Date();
    if (!a || !b) return "";
    const seconds = Math.max(0, Math.round((b - a) / 1000));
    if (seconds < 120) return `${seconds} s`;
    const minutes = Math.round(seconds / 60);
    if (minutes < 120) return `${minutes} min`;
    const hours = minutes / 60;
    return hours < 48 ? `${hours.toFixed(1)} h` : `${(hours / 24).toFixed(1)} days`;
  }

  // ---- the platform filter ----------------------------------------------------------------

  /** The per-minute counts of the platform shown. */
  function minutes() {
    if (S.platform === "all") return S.minutes;
    return S.platformMinutes.get(S.platform) || new Map();
  }

  /** The aggregates as the chosen platform sees them: its own counts, the rest campaign-wide. */
  function view(agg) {
    if (S.platform === "all") return agg;
    const mine = (agg.platforms || {})[S.platform];
    const counts = mine || { totals: { posts: 0, originals: 0, reposts: 0, authors: 0, languages: 0,
      media_items: 0, posts_with_media: 0 }, languages: {}, media_types: {}, hashtags: [] };
    return {
      ...agg,
      ...counts,
      totals: { ...agg.totals, ...counts.totals },
      amplified: agg.amplified.filter((a) => a.uid.startsWith(`${S.platform}:`)),
    };
  }

  function renderPlatforms(agg) {
    const platforms = agg.platforms || {};
    const choices = [["all", agg.totals.posts],
      ...Object.entries(platforms).map(([name, p]) => [name, p.totals.posts])];
    if (S.platform !== "all" && !platforms[S.platform]) choices.push([S.platform, 0]);
    const buttons = choices.map(([name, n]) => {
      const button = h("button", { data: { platform: name } },
        PLATFORM_NAMES[name] || name, h("span", { cls: "n", text: fmt(n) }));
      button.type = "button";
      button.setAttribute("aria-pressed", String(name === S.platform));
      button.addEventListener("click", () => choosePlatform(name));
      return button;
    });
    $("platforms").replaceChildren(...buttons);
  }

  function choosePlatform(name) {
    S.platform = name;
    try { sessionStorage.setItem(PLATFORM_KEY, name); } catch (_) { /* private mode */ }
    if (S.agg) renderAggregates(S.agg);
    renderFeed();
  }

  // ---- charts -------------------------------------------------------------------------------

  function makeCharts() {
    if (!window.Chart || S.charts.timeline) return;
    const Chart = window.Chart;
    Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
    Chart.defaults.font.size = 11.5;
    Chart.defaults.color = "#5b677a";
    Chart.defaults.animation = false;
    Chart.defaults.maintainAspectRatio = false;
    S.charts.timeline = new Chart($("chart-timeline"), {
      type: "bar",
      data: {
        labels: [],
        datasets: [
          { label: "Originals", data: [], backgroundColor: ORIGINALS, stack: "posts" },
          { label: "Reposts", data: [], backgroundColor: REPOSTS, stack: "posts" },
        ],
      },
      options: {
        interaction: { mode: "index", intersect: false },
        datasets: { bar: { categoryPercentage: 0.92, barPercentage: 0.92 } },
        plugins: {
          legend: { display: false },
          tooltip: {
            callbacks: {
              title: (items) => (items.length ? S.timelineTitles[items[0].dataIndex] : ""),
              footer: (items) => `total ${fmt(items.reduce((n, i) => n + i.parsed.y, 0))}`,
            },
          },
        },
        scales: {
          x: {
            stacked: true,
            grid: { display: false },
            ticks: { maxRotation: 0, autoSkip: true, maxTicksLimit: 12 },
          },
          y: {
            stacked: true,
            beginAtZero: true,
            ticks: { precision: 0 },
            grid: { color: "#eef2f7" },
          },
        },
      },
    });
    S.charts.languages = new Chart($("chart-languages"), {
      type: "bar",
      data: { labels: [], datasets: [{ label: "Posts", data: [], backgroundColor: PALETTE }] },
      options: {
        indexAxis: "y",
        plugins: { legend: { display: false } },
        scales: {
          x: { beginAtZero: true, ticks: { precision: 0 }, grid: { color: "#eef2f7" } },
          y: { grid: { display: false } },
        },
      },
    });
    S.charts.media = new Chart($("chart-media"), {
      type: "doughnut",
      data: { labels: [], datasets: [{ data: [], backgroundColor: [], borderWidth: 2 }] },
      options: { cutout: "62%", plugins: { legend: { display: false } } },
    });
  }

  function timelineSeries() {
    const shown = minutes();
    const keys = [...shown.keys()].sort((a, b) => a - b);
    if (!keys.length) return null;
    const first = keys[0];
    const last = keys[keys.length - 1];
    let step = null;
    let stepName = "per minute (minutes with posts)";
    for (const [s, name] of STEPS) {
      if (Math.floor(last / s) - Math.floor(first / s) + 1 <= MAX_BARS) {
        step = s;
        stepName = name;
        break;
      }
    }
    const buckets = new Map();
    if (step) {
      let start = Math.floor(first / step) * step;
      const end = Math.floor(last / step) * step;
      if (step === 60 && (end - start) / 60 + 1 < MIN_BARS) start = end - (MIN_BARS - 1) * 60;
      for (let b = start; b <= end; b += step) buckets.set(b, [0, 0]);
    }
    for (const k of keys) {
      const b = step ? Math.floor(k / step) * step : k;
      const v = shown.get(k);
      const cur = buckets.get(b) || [0, 0];
      cur[0] += v[0];
      cur[1] += v[1];
      buckets.set(b, cur);
    }
    const starts = [...buckets.keys()].sort((a, b) => a - b);
    const multiDay = utc(new Date(first * 1000), true).slice(0, 10) !== utc(new Date(last * 1000), true).slice(0, 10);
    const daily = step && step >= 86400;
    const label = (t) => {
      const d = new Date(t * 1000);
      if (daily) return d.toISOString().slice(0, 10);
      return multiDay || !step ? `${d.toISOString().slice(5, 10)} ${utc(d)}` : utc(d);
    };
    return {
      stepName,
      labels: starts.map(label),
      titles: starts.map((t) => `${utc(new Date(t * 1000), true)} UTC`),
      originals: starts.map((t) => buckets.get(t)[0]),
      reposts: starts.map((t) => buckets.get(t)[1]),
    };
  }

  function renderTimeline() {
    const series = timelineSeries();
    showEmpty("timeline-empty", !series);
    if (!series) return;
    $("timeline-step").textContent = series.stepName;
    S.timelineTitles = series.titles;
    const chart = S.charts.timeline;
    if (!chart) return;
    chart.data.labels = series.labels;
    chart.data.datasets[0].data = series.originals;
    chart.data.datasets[1].data = series.reposts;
    chart.update("none");
  }

  // ---- panels -------------------------------------------------------------------------------

  function renderTotals(agg) {
    const t = agg.totals;
    $("total-posts").textContent = fmt(t.posts);
    const shown = minutes();
    const latest = [...shown.keys()].sort((a, b) => b - a)[0];
    const latestCount = latest !== undefined ? shown.get(latest)[0] + shown.get(latest)[1] : 0;
    $("total-posts-sub").textContent = latest !== undefined
      ? `${fmt(latestCount)} in the last minute`
      : "\u00a0";
    $("total-originals").textContent = fmt(t.originals);
    const kinds = [];
    if (t.quotes) kinds.push(`${fmt(t.quotes)} quotes`);
    if (t.replies) kinds.push(`${fmt(t.replies)} replies`);
    $("total-originals-sub").textContent = `${pct(t.originals, t.posts)}${kinds.length ? ` · ${kinds.join(" · ")}` : " of posts"}`;
    $("total-reposts").textContent = fmt(t.reposts);
    $("total-reposts-sub").textContent = `${pct(t.reposts, t.posts)} of posts`;
    $("total-authors").textContent = `${fmt(t.authors)}${t.authors_capped ? "+" : ""}`;
    $("total-authors-sub").textContent = t.authors
      ? `${(t.posts / t.authors).toFixed(1)} posts each`
      : "\u00a0";
    $("total-languages").textContent = fmt(t.languages);
    const top = Object.entries(agg.languages)[0];
    $("total-languages-sub").textContent = top
      ? `${langName(top[0])} ${pct(top[1], t.posts)}`
      : "\u00a0";
    $("total-media").textContent = fmt(t.posts_with_media);
    $("total-media-sub").textContent = `${pct(t.posts_with_media, t.posts)} · ${fmt(t.media_items)} items`;
    $("total-clusters").textContent = fmt(t.clusters);
    const biggest = agg.clusters[0];
    $("total-clusters-sub").textContent = biggest ? `largest: ${fmt(biggest.size)} copies` : "\u00a0";
    $("total-alerts").textContent = fmt(t.alerts);
    const sev = t.alerts_by_severity || {};
    const tile = document.querySelector(".alerts-tile");
    tile.classList.toggle("has-critical", Boolean(sev.critical));
    tile.classList.toggle("has-warning", !sev.critical && Boolean(sev.warning));
    const parts = [];
    if (sev.critical) parts.push(`${fmt(sev.critical)} critical`);
    if (sev.warning) parts.push(`${fmt(sev.warning)} warning`);
    if (sev.info) parts.push(`${fmt(sev.info)} info`);
    $("total-alerts-sub").textContent = parts.join(" · ") || "\u00a0";
    const last = parseTime(t.last_event);
    const first = parseTime(t.first_event);
    $("last-event").textContent = last ? `${utc(last, true)} UTC` : "–";
    $("first-event").textContent = first ? `over ${span(t.first_event, t.last_event)}` : "\u00a0";

    const tags = agg.hashtags.slice(0, 3).map((tg) =>
      h("bdi", { cls: "chip", text: `#${tg.tag}`, dir: "auto", title: `${fmt(tg.count)} posts` }));
    $("campaign-tags").replaceChildren(...tags);
  }

  function renderLanguages(agg) {
    const entries = Object.entries(agg.languages);
    const total = agg.totals.posts;
    const items = entries.map(([code, n], i) =>
      h("li", { data: { key: code }, title: `${langName(code)} (${code})` },
        h("span", { cls: "swatch", data: { i: Math.min(i, PALETTE.length - 1) } }),
        h("span", { cls: "key" }, `${langName(code)} `, h("span", { cls: "code", text: code })),
        h("span", { cls: "n", text: fmt(n) }),
        h("span", { cls: "pct", text: pct(n, total) })));
    $("languages").replaceChildren(...items);
    paintSwatches($("languages"), (i) => PALETTE[i]);
    const chart = S.charts.languages;
    if (!chart) return;
    const head = entries.slice(0, 8);
    const rest = entries.slice(8).reduce((n, [, v]) => n + v, 0);
    const labels = head.map(([code]) => langName(code));
    const data = head.map(([, n]) => n);
    if (rest) {
      labels.push("other");
      data.push(rest);
    }
    chart.data.labels = labels;
    chart.data.datasets[0].data = data;
    chart.data.datasets[0].backgroundColor = labels.map((_, i) => PALETTE[Math.min(i, PALETTE.length - 1)]);
    chart.update("none");
  }

  function paintSwatches(list, color) {
    // Colours come from fixed tables, set through the CSSOM (no inline style markup).
    for (const sw of list.querySelectorAll(".swatch")) {
      sw.style.background = color(sw.dataset.i);
    }
  }

  function renderMedia(agg) {
    const entries = Object.entries(agg.media_types);
    const total = entries.reduce((n, [, v]) => n + v, 0);
    const items = entries.map(([type, n]) =>
      h("li", { data: { key: type } },
        h("span", { cls: "swatch", data: { i: type } }),
        h("span", { cls: "key", text: MEDIA_NAMES[type] || type }),
        h("span", { cls: "n", text: fmt(n) }),
        h("span", { cls: "pct", text: pct(n, total) })));
    if (!entries.length) items.push(h("li", { cls: "none", text: "No media yet." }));
    $("media-types").replaceChildren(...items);
    paintSwatches($("media-types"), (type) => MEDIA_COLORS[type] || "#94a3b8");
    const chart = S.charts.media;
    if (!chart) return;
    chart.data.labels = entries.map(([type]) => MEDIA_NAMES[type] || type);
    chart.data.datasets[0].data = entries.map(([, n]) => n);
    chart.data.datasets[0].backgroundColor = entries.map(([type]) => MEDIA_COLORS[type] || "#94a3b8");
    chart.update("none");
  }

  function renderHashtags(agg) {
    const max = agg.hashtags.reduce((m, t) => Math.max(m, t.count), 0) || 1;
    const items = agg.hashtags.slice(0, 15).map((t) => {
      const fill = h("span", { cls: "fill" });
      fill.style.width = `${(100 * t.count) / max}%`;
      const spellings = (t.spellings || []).map((s) => `#${s}`).join("  ");
      return h("li", { data: { key: t.normalized }, title: spellings ? `spellings: ${spellings}` : "" },
        fill,
        h("bdi", { cls: "tag", text: `#${t.tag}`, dir: "auto" }),
        h("span", { cls: "n", text: fmt(t.count) }));
    });
    $("hashtags").replaceChildren(...items);
    showEmpty("hashtags-empty", !items.length);
  }

  function langBadge(code, inherited, confidence) {
    const title = inherited
      ? `${langName(code)}, inherited from the original post`
      : `${langName(code)}${confidence ? `, confidence ${confidence}` : ""}`;
    return h("span", { cls: `badge lang${inherited ? " inherited" : ""}`, text: code, title });
  }

  function renderAmplified(agg) {
    const items = agg.amplified.map((a) =>
      h("li", { data: { uid: a.uid } },
        h("div", { cls: "score" }, h("b", { text: fmt(a.amplification) }), h("span", { text: "reposts" })),
        h("div", null,
          userText("p", a.text, "text", a.lang),
          h("div", { cls: "meta" },
            langBadge(a.lang, false),
            a.author ? h("bdi", { text: `@${a.author}`, dir: "auto" }) : null,
            a.reposts !== a.amplification ? h("span", { text: `${fmt(a.reposts)} in this view` }) : null,
            a.url ? h("a", { text: "open", href: a.url, title: a.uid }) : h("span", { text: a.uid })))));
    $("amplified").replaceChildren(...items);
    showEmpty("amplified-empty", !items.length);
  }

  function renderClusters(agg) {
    const items = agg.clusters.map((c) =>
      h("li", { data: { cluster: c.id } },
        h("div", { cls: "score" }, h("b", { text: fmt(c.size) }), h("span", { text: "copies" })),
        h("div", null,
          userText("p", c.text, "text", c.lang),
          h("div", { cls: "meta" },
            langBadge(c.lang, false),
            h("span", { text: `last ${when(c.last_at)}` }),
            c.first_url ? h("a", { text: "first post", href: c.first_url }) : null))));
    $("clusters").replaceChildren(...items);
    showEmpty("clusters-empty", !items.length);
  }

  function renderAlerts() {
    const alerts = [...S.alerts.values()].sort(alertOrder);
    const items = alerts.slice(0, 30).map((a) => {
      const sev = ["critical", "warning", "info"].includes(a.severity) ? a.severity : "info";
      const examples = (a.examples || []).filter((e) => e.url).slice(0, 3)
        .map((e, i) => h("a", { text: `example ${i + 1}`, href: e.url, title: e.uid }));
      return h("li", { cls: `alert ${sev}`, data: { id: a.id } },
        h("div", { cls: "head" },
          h("span", { cls: "sev", text: sev }),
          h("span", { cls: "rule", text: a.rule }),
          h("span", { cls: "when", text: when(a.window_start), title: `${a.window_start} – ${a.window_end}` })),
        userText("p", a.summary, "summary"),
        h("div", { cls: "meta" },
          h("span", { text: `value ${num1(a.value)} · threshold ${num1(a.threshold)}` }),
          ...examples));
    });
    $("alerts").replaceChildren(...items);
    $("alerts-count").textContent = fmt(S.agg ? S.agg.totals.alerts : alerts.length);
    showEmpty("alerts-empty", !items.length);
  }

  function renderGaps() {
    const rows = S.gaps.map((g) =>
      h("tr", { cls: g.open ? "open" : "", data: { id: g.id } },
        h("td", { text: g.collector }),
        h("td", { text: shortTime(g.start), title: g.start || "" }),
        g.open
          ? h("td", { cls: "ongoing", text: `ongoing (${span(g.start, null)})` })
          : h("td", { text: `${shortTime(g.end)} (${span(g.start, g.end)})`, title: g.end || "" }),
        userText("td", g.reason),
        h("td", { cls: "num", text: fmt(g.recovered) })));
    $("gaps").replaceChildren(...rows);
    showEmpty("gaps-empty", !rows.length);
  }

  function renderBanners() {
    const banners = [];
    for (const g of S.gaps.filter((x) => x.open)) {
      banners.push(h("div", { cls: "banner gap", data: { id: g.id } },
        h("span", { cls: "kind", text: "collection gap" }),
        h("span", { cls: "what" },
          `${g.collector} is not collecting (${g.reason || "no reason given"}): `,
          "quiet here is not quiet out there."),
        h("span", { cls: "when", text: `since ${when(g.start)}` })));
    }
    const serious = [...S.alerts.values()]
      .filter((a) => (a.severity === "critical" || a.severity === "warning") && !S.dismissed.has(a.id))
      .sort((a, b) => (SEVERITY_RANK[a.severity] ?? 3) - (SEVERITY_RANK[b.severity] ?? 3) || alertOrder(a, b))
      .slice(0, 2);
    for (const a of serious) {
      const close = h("button", { cls: "dismiss", text: "×", title: "dismiss" });
      close.type = "button";
      close.addEventListener("click", () => {
        S.dismissed.add(a.id);
        renderBanners();
      });
      banners.push(h("div", { cls: `banner ${a.severity}`, data: { id: a.id } },
        h("span", { cls: "kind", text: `${a.severity} alert` }),
        userText("span", a.summary, "what"),
        h("span", { cls: "when", text: when(a.window_start) }),
        close));
    }
    $("banners").replaceChildren(...banners);
  }

  // ---- feed ---------------------------------------------------------------------------------

  function mediaBadges(p) {
    const counts = new Map();
    for (const m of p.media || []) counts.set(m.type, (counts.get(m.type) || 0) + 1);
    const out = [];
    for (const [type, n] of counts) {
      let text = MEDIA_NAMES[type] ? MEDIA_NAMES[type].replace(/s$/, "").toLowerCase() : type;
      if (type === "animated_gif") text = "gif";
      if (n > 1) text += ` ×${n}`;
      if (type === "video") {
        const ms = (p.media || []).filter((m) => m.type === "video").reduce((s, m) => s + (m.duration_ms || 0), 0);
        if (ms) text += ` ${duration(ms)}`;
      }
      const alt = (p.media || []).filter((m) => m.type === type && m.alt).length;
      out.push(h("span", {
        cls: `badge media ${["photo", "video", "animated_gif", "audio"].includes(type) ? type : "unknown"}`,
        text,
        title: alt ? `${alt} with alt text` : "no alt text",
      }));
    }
    return out;
  }

  function postNode(p, fresh) {
    const kind = p.repost_of ? "repost" : p.quote_of ? "quote" : p.reply_to ? "reply" : null;
    const handle = p.author ? `@${p.author}` : p.uid;
    const badges = [
      langBadge(p.lang, p.lang_inherited, p.lang_confidence),
      kind ? h("span", { cls: `badge ${kind}`, text: kind, title: p.repost_of || p.quote_of || p.reply_to || "" }) : null,
      ...mediaBadges(p),
      p.media_reused ? h("span", { cls: "badge reused", text: "media seen before", title: `${p.media_reused} earlier posts` }) : null,
      p.cluster_size && p.cluster_size > 1
        ? h("span", { cls: "badge cluster", text: `copy ×${fmt(p.cluster_size)}`, title: "copy-paste cluster" })
        : null,
      p.repost_of && p.amplification ? h("span", { cls: "badge", text: `↻ ${fmt(p.amplification)}`, title: "reposts of the original so far" }) : null,
      p.sensitive ? h("span", { cls: "badge sensitive", text: "sensitive" }) : null,
      ...(p.hashtags || []).slice(0, 4).map((t) => h("bdi", { cls: "badge tag", text: `#${t}`, dir: "auto" })),
    ];
    return h("li", { cls: `post${fresh ? " fresh" : ""}`, data: { uid: p.uid, seq: p.seq, lang: p.lang, kind: kind || "original" } },
      h("div", { cls: "who" },
        h("bdi", { cls: "handle", text: handle, dir: "auto", title: p.author_name || "" }),
        h("span", { cls: "platform badge", text: p.platform }),
        p.url
          ? h("a", { cls: "when", text: when(p.created_at), title: `${p.created_at} · open the post`, href: p.url })
          : h("span", { cls: "when", text: when(p.created_at), title: p.created_at || "" })),
      userText("p", p.text, "text", p.lang),
      h("div", { cls: "meta" }, ...badges));
  }

  function visible(p) {
    if (S.platform !== "all" && p.platform !== S.platform) return false;
    return !$("feed-originals").checked || !p.repost_of;
  }

  function renderFeed() {
    const items = S.feed.filter(visible).slice(0, FEED_MAX).map((p) => postNode(p, false));
    $("feed").replaceChildren(...items);
    showEmpty("feed-empty", !items.length);
    $("feed-pending").textContent = S.pending.length ? `${fmt(S.pending.length)} new` : "";
  }

  /** Newest first: the latest FEED_MAX posts, and each platform's latest FEED_MAX. */
  function trimFeed(posts) {
    const per = new Map();
    return posts.filter((p, i) => {
      const n = (per.get(p.platform) || 0) + 1;
      per.set(p.platform, n);
      return i < FEED_MAX || n <= FEED_MAX;
    });
  }

  function addPosts(posts) {
    const fresh = posts.filter((p) => p.seq > S.lastSeq);
    if (!fresh.length) return;
    S.lastSeq = Math.max(S.lastSeq, ...fresh.map((p) => p.seq));
    if ($("feed-pause").checked) {
      S.pending = fresh.concat(S.pending).slice(0, FEED_MAX);
      $("feed-pending").textContent = `${fmt(S.pending.length)} new`;
      return;
    }
    S.feed = trimFeed(fresh.concat(S.feed));
    const list = $("feed");
    const nodes = fresh.filter(visible).map((p) => postNode(p, true));
    list.prepend(...nodes);
    while (list.children.length > FEED_MAX) list.lastElementChild.remove();
    showEmpty("feed-empty", !list.children.length);
  }

  // ---- applying server messages -----------------------------------------------------------

  function renderAggregates(agg) {
    S.agg = agg;
    const shown = view(agg);
    renderPlatforms(agg);
    renderTotals(shown);
    renderTimeline();
    renderLanguages(shown);
    renderMedia(shown);
    renderHashtags(shown);
    renderAmplified(shown);
    renderClusters(agg);
    const c = agg.consumer || {};
    const bits = [c.connected ? `reading topics (${fmt(c.records)} records)` : "not connected to the broker"];
    if (c.error) bits.push(c.error);
    $("consumer-status").textContent = bits.join(" · ");
  }

  function applySnapshot(snap) {
    S.minutes = new Map(snap.per_minute.map(([t, o, r]) => [t, [o, r]]));
    S.platformMinutes = new Map(Object.entries(snap.platforms || {}).map(([name, p]) =>
      [name, new Map(p.per_minute.map(([t, o, r]) => [t, [o, r]]))]));
    S.feed = trimFeed(snap.posts);
    S.pending = [];
    S.lastSeq = S.feed.reduce((m, p) => Math.max(m, p.seq), 0);
    S.alerts = new Map(snap.alerts.map((a) => [a.id, a]));
    S.gaps = snap.gaps || [];
    renderAggregates(snap);
    renderFeed();
    renderAlerts();
    renderGaps();
    renderBanners();
    touch();
  }

  function applyUpdate(u) {
    for (const [t, o, r] of u.per_minute) S.minutes.set(t, [o, r]);
    for (const [name, p] of Object.entries(u.platforms || {})) {
      if (!S.platformMinutes.has(name)) S.platformMinutes.set(name, new Map());
      const own = S.platformMinutes.get(name);
      for (const [t, o, r] of p.per_minute) own.set(t, [o, r]);
    }
    renderAggregates(u);
    addPosts(u.posts);
    if (u.alerts.length) {
      for (const a of u.alerts) S.alerts.set(a.id, a);
      renderAlerts();
      renderBanners();
    } else {
      $("alerts-count").textContent = fmt(u.totals.alerts);
    }
    if (u.gaps) {
      S.gaps = u.gaps;
      renderGaps();
      renderBanners();
    }
    touch();
  }

  // ---- connection -------------------------------------------------------------------------

  function setStatus(state, text) {
    $("status").dataset.state = state;
    $("status-text").textContent = text;
  }

  function touch() {
    S.lastMessage = Date.now();
    S.connected = true;
    refreshStatus();
  }

  function refreshStatus() {
    if (!S.connected) return;
    const age = Math.round((Date.now() - S.lastMessage) / 1000);
    const consumer = S.agg && S.agg.consumer;
    if (consumer && !consumer.connected) {
      setStatus("reconnecting", "waiting for the broker…");
    } else {
      setStatus("live", age < 3 ? "live" : `live · last change ${age}s ago`);
    }
  }

  function authHeaders() {
    return S.token ? { "X-Hashwatch-Token": S.token } : {};
  }

  async function start() {
    setStatus("connecting", "connecting…");
    let response;
    try {
      response = await fetch("/api/snapshot", { headers: authHeaders(), cache: "no-store" });
    } catch (_) {
      setStatus("error", "dashboard server unreachable; retrying…");
      setTimeout(start, 3000);
      return;
    }
    if (response.status === 401) {
      askToken(S.token ? "That token was not accepted." : "");
      return;
    }
    if (!response.ok) {
      setStatus("error", `server answered ${response.status}; retrying…`);
      setTimeout(start, 3000);
      return;
    }
    applySnapshot(await response.json());
    listen();
  }

  function listen() {
    if (S.es) S.es.close();
    const url = S.token ? `/events?token=${encodeURIComponent(S.token)}` : "/events";
    const es = new EventSource(url);
    S.es = es;
    es.addEventListener("snapshot", (ev) => applySnapshot(JSON.parse(ev.data)));
    es.addEventListener("update", (ev) => applyUpdate(JSON.parse(ev.data)));
    es.addEventListener("open", () => touch());
    es.addEventListener("error", () => {
      S.connected = false;
      if (es.readyState === EventSource.CLOSED) {
        setStatus("reconnecting", "connection lost; retrying…");
        es.close();
        setTimeout(start, 3000); // re-checks the token too
      } else {
        setStatus("reconnecting", "reconnecting…");
      }
    });
  }

  function askToken(message) {
    setStatus("error", "access token required");
    const dialog = $("token-dialog");
    $("token-error").textContent = message || "";
    $("token-input").value = "";
    if (!dialog.open) dialog.showModal();
  }

  function setupToken() {
    // A link may carry the token in the fragment (#token=...), which is never sent to a server.
    const m = /(?:^|[#&])token=([^&]+)/.exec(window.location.hash);
    if (m) {
      S.token = decodeURIComponent(m[1]);
      try { sessionStorage.setItem(TOKEN_KEY, S.token); } catch (_) { /* private mode */ }
      history.replaceState(null, "", window.location.pathname);
    } else {
      try { S.token = sessionStorage.getItem(TOKEN_KEY); } catch (_) { S.token = null; }
    }
    $("token-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const value = $("token-input").value.trim();
      if (!value) return;
      S.token = value;
      try { sessionStorage.setItem(TOKEN_KEY, value); } catch (_) { /* private mode */ }
      $("token-dialog").close();
      start();
    });
  }

  function init() {
    makeCharts();
    setupToken();
    try { S.platform = sessionStorage.getItem(PLATFORM_KEY) || "all"; } catch (_) { S.platform = "all"; }
    $("feed-originals").addEventListener("change", renderFeed);
    $("feed-pause").addEventListener("change", () => {
      if (!$("feed-pause").checked && S.pending.length) {
        S.feed = trimFeed(S.pending.concat(S.feed));
        S.pending = [];
      }
      renderFeed();
    });
    setInterval(refreshStatus, 1000);
    start();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
