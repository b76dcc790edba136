// The night chart: sky fraction and cloud cover (0–100 %, left axis; cloud as a share of the sky, drawn only for
// runs with --clouds) and latency (ms, right axis) over time, on a canvas.
// Hand-written rather than a vendored Chart.js (~200 kB): two lines over a time axis is all the page needs, it
// works offline with nothing to keep up to date, and redrawing a few thousand points costs well under a millisecond
// per frame.

const SKY = "#3aa0ff", LAT = "#e0a040", CLOUD = "#ff9628", GRID = "#1e2530", TEXT = "#6b7686";
const MAX_POINTS = 5000;

export class SkyChart {
  constructor(canvas) {
    this.canvas = canvas;
    this.points = []; // {t: ms since epoch, sky: 0–1, lat: ms, cloud: 0–1 or null}
    this.pending = false;
    new ResizeObserver(() => this.draw()).observe(canvas);
  }

  // x is when the server got the row (`received`): it only grows, even when an archive or a folder of old frames
  // is replayed; the table shows each frame's own capture time.
  static point(row) {
    const t = Number(row.received) * 1000;
    const sky = Number(row.sky_fraction), lat = Number(row.latency_ms);
    if (!Number.isFinite(t) || row.sky_fraction === "" || !Number.isFinite(sky)) return null;
    const cloud = row.cloud_fraction === undefined || row.cloud_fraction === "" || row.cloud_fraction === null
      ? null : Number(row.cloud_fraction);
    return {t, sky, lat: Number.isFinite(lat) ? lat : 0, cloud: Number.isFinite(cloud) ? cloud : null};
  }

  setPoints(points) {
    this.points = points.filter(Boolean).sort((a, b) => a.t - b.t).slice(-MAX_POINTS);
    this.schedule();
  }

  add(point) {
    if (!point) return;
    this.points.push(point);
    if (this.points.length > MAX_POINTS) this.points.splice(0, this.points.length - MAX_POINTS);
    this.schedule();
  }

  schedule() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => { this.pending = false; this.draw(); });
  }

  draw() {
    const c = this.canvas, ratio = window.devicePixelRatio || 1;
    const w = c.clientWidth, h = c.clientHeight;
    if (!w || !h) return;
    const cw = Math.round(w * ratio), ch = Math.round(h * ratio);
    if (c.width !== cw || c.height !== ch) { c.width = cw; c.height = ch; } // resizing reallocates: only on change
    const g = c.getContext("2d");
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    g.clearRect(0, 0, w, h);
    g.font = "11px system-ui, sans-serif";
    const left = 34, right = 40, top = 8, bottom = 20;
    const pw = w - left - right, ph = h - top - bottom;
    const pts = this.points;
    const t0 = pts.length ? pts[0].t : Date.now() - 60000;
    const t1 = pts.length > 1 ? pts[pts.length - 1].t : t0 + 60000;
    const span = Math.max(t1 - t0, 1000);
    const latMax = niceMax(Math.max(1, ...pts.map(p => p.lat)));
    const x = t => left + (t - t0) / span * pw;
    const ySky = s => top + (1 - s) * ph;
    const yLat = v => top + (1 - v / latMax) * ph;
    g.strokeStyle = GRID; g.fillStyle = TEXT; g.lineWidth = 1;
    for (let i = 0; i <= 4; i++) {
      const y = top + i / 4 * ph;
      g.beginPath(); g.moveTo(left, y); g.lineTo(left + pw, y); g.stroke();
      g.textAlign = "right"; g.fillText(`${100 - i * 25}%`, left - 4, y + 4);
      g.textAlign = "left"; g.fillText(`${Math.round(latMax * (1 - i / 4))}`, left + pw + 4, y + 4);
    }
    g.textAlign = "center";
    for (let i = 0; i <= 4; i++) {
      const t = t0 + i / 4 * span;
      g.fillText(clock(t, span), left + i / 4 * pw, h - 5);
    }
    if (!pts.length) {
      g.fillText("waiting for the first frame…", left + pw / 2, top + ph / 2);
      return;
    }
    line(g, pts, p => x(p.t), p => yLat(p.lat), LAT, 1);
    line(g, pts, p => x(p.t), p => ySky(p.sky), SKY, 2);
    const clouds = pts.filter(p => p.cloud !== null);
    if (clouds.length) line(g, clouds, p => x(p.t), p => ySky(p.cloud), CLOUD, 2);
  }
}

function line(g, pts, fx, fy, color, width) {
  g.strokeStyle = color; g.lineWidth = width; g.beginPath();
  pts.forEach((p, i) => (i ? g.lineTo(fx(p), fy(p)) : g.moveTo(fx(p), fy(p))));
  if (pts.length === 1) { g.fillStyle = color; g.fillRect(fx(pts[0]) - 2, fy(pts[0]) - 2, 4, 4); }
  g.stroke();
}

function niceMax(v) {
  const step = 10 ** Math.floor(Math.log10(v));
  return [1, 2, 5, 10].map(m => m * step).find(m => m >= v);
}

function clock(t, span) {
  const d = new Date(t);
  const hm = `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
  return span < 600000 ? `${hm}:${String(d.getSeconds()).padStart(2, "0")}` : hm;
}
