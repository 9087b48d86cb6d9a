// Draws the report's charts from the JSON block #report-data, then marks
// <body> with how many charts were expected and how many were drawn, so a
// headless browser's dumped DOM says whether the page works.
(function () {
  "use strict";
  var body = document.body;
  window.addEventListener("error", function (e) {
    body.dataset.chartsError = String(e.message);
  });

  var colors = {
    depth: "#1f77b4",
    current: "#7f7f7f",
    recommended: "#2ca02c",
    lost: "#d62728",
    arrivals: "#ff7f0e",
    drained: "#1f77b4",
    waits: "#9467bd",
    records: "#1f77b4",
    replayFree: "#8c564b",
    replayAtLimit: "#e377c2",
    stall: "#bcbd22",
    stallFill: "rgba(188, 189, 34, 0.25)",
  };

  var data = JSON.parse(document.getElementById("report-data").textContent);
  var tl = data.timeline;
  var bucketSec = tl.bucket_ns / 1e9;
  var endSec = tl.buckets * bucketSec;

  // Every chart draws synchronously: rendering is checked right after.
  Chart.defaults.animation = false;
  Chart.defaults.responsive = true;
  Chart.defaults.maintainAspectRatio = false;

  // Point i starts at i*step buckets; the last may hold fewer buckets.
  function pointStart(i) { return i * tl.step * bucketSec; }
  function pointSeconds(i) { return Math.min(tl.step, tl.buckets - i * tl.step) * bucketSec; }

  // xy turns a series into points of a stepped line, with a closing point
  // at the end so the last interval is drawn too.
  function xy(values, perSecond) {
    var pts = new Array(values.length + 1);
    for (var i = 0; i < values.length; i++) {
      var v = values[i];
      pts[i] = { x: pointStart(i), y: perSecond ? v / pointSeconds(i) : v };
    }
    pts[values.length] = { x: endSec, y: values.length ? pts[values.length - 1].y : 0 };
    return pts;
  }

  function level(y) { return [{ x: 0, y: y }, { x: endSec, y: y }]; }

  function clock(sec) {
    if (endSec < 120) return (Math.round(sec * 100) / 100) + " s";
    var s = Math.round(sec), h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60;
    var ss = String(s % 60).padStart(2, "0");
    return h > 0 ? h + ":" + String(m).padStart(2, "0") + ":" + ss : m + ":" + ss;
  }

  function line(label, pts, color, extra) {
    var ds = {
      label: label, data: pts, borderColor: color, backgroundColor: color,
      borderWidth: 2, pointRadius: 0, stepped: true, parsing: false, normalized: true,
    };
    for (var k in extra) ds[k] = extra[k];
    return ds;
  }

  // tickStep: a clock-friendly step (1 s, 5 s, 1 min, 5 min, ...) giving
  // at most a dozen ticks; short recordings take Chart.js's own.
  function tickStep() {
    if (endSec < 120) return undefined;
    var steps = [10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];
    for (var i = 0; i < steps.length; i++) {
      if (endSec / steps[i] <= 12) return steps[i];
    }
    return undefined;
  }

  function timeScales(yTitle) {
    return {
      x: {
        type: "linear", min: 0, max: endSec,
        title: { display: true, text: endSec < 120 ? "seconds since start" : "time since start (h:mm:ss)" },
        ticks: { callback: clock, maxTicksLimit: 13, stepSize: tickStep() },
      },
      y: { beginAtZero: true, title: { display: true, text: yTitle } },
    };
  }

  function timeOptions(title, yTitle) {
    return {
      scales: timeScales(yTitle),
      interaction: { mode: "nearest", axis: "x", intersect: false },
      plugins: {
        title: { display: true, text: title },
        legend: { labels: { usePointStyle: true, pointStyle: "line" } },
        tooltip: { callbacks: { title: function (items) { return items.length ? clock(items[0].parsed.x) : ""; } } },
      },
    };
  }

  function largest(values) { return values.reduce(function (m, v) { return Math.max(m, v); }, 0); }

  var builders = {
    depth: function () {
      var rp = data.replay;
      // The recorded depth wide and behind (a higher order is drawn
      // first), the replays thin over it: where the replay follows the
      // record, both stay visible.
      var sets = [line(data.depth_label, xy(tl.max_depth, false), colors.depth, { borderWidth: 3, order: 1 })];
      var peak = largest(tl.max_depth);
      if (rp.no_limit) {
        // Dashed: where the replay at the limit follows it, both show.
        sets.push(line(rp.no_limit_label, xy(rp.no_limit, false), colors.replayFree, { borderWidth: 1.5, borderDash: [5, 3] }));
        peak = Math.max(peak, largest(rp.no_limit));
      }
      if (rp.at_limit) {
        sets.push(line(rp.at_limit_label, xy(rp.at_limit, false), colors.replayAtLimit, { borderWidth: 1.5 }));
        peak = Math.max(peak, largest(rp.at_limit));
      }
      if (data.current_limit > 0) {
        sets.push(line("backlog_limit in force (" + data.current_limit + ")", level(data.current_limit), colors.current, { borderDash: [6, 4] }));
      }
      if (data.recommended_limit > 0) {
        sets.push(line("recommended backlog_limit (" + data.recommended_limit + ")", level(data.recommended_limit), colors.recommended, { borderDash: [2, 3] }));
      }
      // When a limit line is far above everything the queue did, a linear
      // axis flattens the depths onto zero: use a log axis.
      var log = peak > 0 && Math.max(data.current_limit, data.recommended_limit) > 20 * peak;
      if (rp.stall_ns > 0) {
        // The stall as a band: a dataset filled down to the axis, as tall
        // as the tallest series, so that it needs no annotation plugin
        // and does not stretch the axis.
        var top = Math.max(peak, data.current_limit, data.recommended_limit, 1);
        var from = rp.stall_at_ns / 1e9, to = Math.min((rp.stall_at_ns + rp.stall_ns) / 1e9, endSec);
        sets.push(line(rp.stall_label, [{ x: from, y: top }, { x: to, y: top }], colors.stall,
          { band: true, fill: "start", backgroundColor: colors.stallFill, borderWidth: 0, stepped: false, order: 2 }));
      }
      var opts = timeOptions(log ? "Queue depth (records, log scale)" : "Queue depth (records)", "records");
      if (log) opts.scales.y = { type: "logarithmic", min: 1, title: { display: true, text: "records (log)" } };
      // The band's height is no value: keep it out of the tooltip, and
      // show it in the legend as a filled box. The legend keeps the
      // datasets' order, not their drawing order.
      opts.plugins.tooltip.filter = function (item) { return !item.dataset.band; };
      opts.plugins.legend.labels.sort = function (a, b) { return a.datasetIndex - b.datasetIndex; };
      opts.plugins.legend.labels.generateLabels = function (chart) {
        var items = Chart.defaults.plugins.legend.labels.generateLabels(chart);
        items.forEach(function (it) {
          if (chart.data.datasets[it.datasetIndex].band) {
            it.pointStyle = "rect";
            it.fillStyle = colors.stallFill;
            it.strokeStyle = colors.stall;
            it.lineWidth = 1;
          }
        });
        return items;
      };
      return { type: "line", data: { datasets: sets }, options: opts };
    },
    lost: function () {
      return {
        type: "line",
        data: { datasets: [line("lost records", xy(tl.lost, false), colors.lost, { fill: "origin" })] },
        options: timeOptions("Lost records per point", "records"),
      };
    },
    rates: function () {
      return {
        type: "line",
        data: {
          datasets: [
            line("arrivals", xy(tl.arrivals, true), colors.arrivals),
            line("drained by kauditd", xy(tl.drained, true), colors.drained),
          ],
        },
        options: timeOptions("Arrivals against drain (records per second)", "records/s"),
      };
    },
    waits: function () {
      return {
        type: "bar",
        data: {
          labels: data.waits.labels,
          datasets: [{ label: "waiting producers", data: data.waits.counts, backgroundColor: colors.waits, borderColor: colors.waits }],
        },
        options: {
          scales: { x: { title: { display: true, text: "time in audit_log_start" } }, y: { beginAtZero: true, title: { display: true, text: "records" } } },
          plugins: { title: { display: true, text: "Backlog wait time" }, legend: { display: false } },
        },
      };
    },
    // auditd's time by cause: Go's shares as they are, one stacked bar
    // per thread adding up to 100%.
    consumer: function () {
      var c = data.consumer;
      var palette = ["#1f77b4", "#ff7f0e", "#c7c7c7", "#2ca02c", "#d62728", "#9467bd", "#8c564b"];
      return {
        type: "bar",
        data: {
          labels: c.threads,
          datasets: c.causes.map(function (cause, i) {
            var color = palette[i % palette.length];
            return { label: cause, data: c.percent[i], backgroundColor: color, borderColor: color };
          }),
        },
        options: {
          indexAxis: "y",
          scales: {
            x: { stacked: true, min: 0, max: 100, title: { display: true, text: "% of the time watched" } },
            y: { stacked: true },
          },
          plugins: {
            title: { display: true, text: "auditd's time by cause" },
            tooltip: { callbacks: { label: function (item) { return item.dataset.label + ": " + item.parsed.x.toFixed(2) + "%"; } } },
          },
        },
      };
    },
    rules: function () { return ranking(data.rules, "Noisiest rules (key, syscall)"); },
    processes: function () { return ranking(data.processes, "Noisiest processes (comm, tgid)"); },
  };

  function ranking(rows, title) {
    function column(name) { return rows.map(function (r) { return r[name]; }); }
    function bars(label, name, color) {
      return { label: label, data: column(name), backgroundColor: color, borderColor: color };
    }
    return {
      type: "bar",
      data: {
        labels: column("label"),
        datasets: [bars("records", "records", colors.records), bars("lost", "lost", colors.lost), bars("waits", "waits", colors.waits)],
      },
      options: {
        indexAxis: "y",
        scales: { x: { beginAtZero: true, title: { display: true, text: "records" } } },
        plugins: { title: { display: true, text: title } },
      },
    };
  }

  function rgb(hex) {
    return [1, 3, 5].map(function (i) { return parseInt(hex.slice(i, i + 2), 16); });
  }

  function yOf(v) { return v !== null && typeof v === "object" ? v.y : v; }

  // drawn: the canvas is not blank and, where any dataset's largest value
  // spans two pixels or more, the plot area holds pixels of such a
  // dataset's colour: axes and grid alone do not count as a chart. Not
  // every dataset: a bar of 3 next to one of 12,000 has no pixels, and
  // drain equal to arrivals in every bucket lies under the arrivals line.
  function drawn(chart) {
    var c = chart.canvas, px = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
    var blank = true;
    for (var i = 3; i < px.length; i += 4) {
      if (px[i] !== 0) { blank = false; break; }
    }
    if (blank) return false;
    var r = chart.currentDevicePixelRatio || 1, a = chart.chartArea;
    var x0 = Math.max(0, Math.floor(a.left * r)), x1 = Math.min(c.width, Math.ceil(a.right * r));
    var y0 = Math.max(0, Math.floor(a.top * r)), y1 = Math.min(c.height, Math.ceil(a.bottom * r));
    var anyData = false;
    var visible = chart.data.datasets.filter(function (ds, i) {
      var top = ds.data.reduce(function (m, v) { return Math.max(m, yOf(v)); }, 0);
      if (top > 0) anyData = true;
      var scale = chart.getDatasetMeta(i).vScale;
      return Math.abs(scale.getPixelForValue(top) - scale.getPixelForValue(0)) >= 2;
    });
    // Data too small to span two pixels anywhere is a broken scale, not
    // an empty chart; all-zero data (nothing lost) draws just the axes.
    if (visible.length === 0) return !anyData;
    return visible.some(function (ds) {
      var want = rgb(ds.borderColor);
      for (var y = y0; y < y1; y++) {
        for (var x = x0; x < x1; x++) {
          var o = (y * c.width + x) * 4;
          if (px[o + 3] > 128 && Math.abs(px[o] - want[0]) < 24 && Math.abs(px[o + 1] - want[1]) < 24 && Math.abs(px[o + 2] - want[2]) < 24) {
            return true;
          }
        }
      }
      return false;
    });
  }

  var canvases = document.querySelectorAll("canvas[data-chart]");
  body.dataset.chartsExpected = String(canvases.length);
  var rendered = 0, failed = [];
  canvases.forEach(function (canvas) {
    var name = canvas.dataset.chart;
    try {
      var chart = new Chart(canvas, builders[name]());
      // The depth chart's series by name, for tests to see the replay's.
      if (name === "depth") body.dataset.depthSeries = chart.data.datasets.map(function (ds) { return ds.label; }).join("; ");
      if (drawn(chart)) rendered++;
      else failed.push(name);
    } catch (e) {
      failed.push(name + ": " + e.message);
    }
  });
  body.dataset.chartsRendered = String(rendered);
  if (failed.length) body.dataset.chartsFailed = failed.join("; ");
})();
