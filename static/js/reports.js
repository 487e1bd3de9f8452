/* The reports dashboard (reports/templates/reports/dashboard.html): draws the charts with Chart.js from the
   data the page carries in <script type="application/json" id="report-charts"> (no inline script, so a strict
   Content-Security-Policy holds), in the colours of the stylesheet's tokens. Each chart has a table of its
   numbers below it, so nothing depends on this file. Also: choosing a date picks "Custom dates". */
(function () {
  "use strict";

  function token(name, fallback) {
    var value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return value || fallback;
  }

  function drawCharts() {
    var source = document.getElementById("report-charts");
    if (!source || typeof window.Chart === "undefined") return;
    var charts = JSON.parse(source.textContent);
    var colours = [token("--chart-1", "#1f5fbf"), token("--chart-2", "#1a6a34"), token("--chart-3", "#b45309"),
                   token("--chart-4", "#47397f")];
    var Chart = window.Chart;
    Chart.defaults.font.family = token("--font-sans", "system-ui, sans-serif");
    Chart.defaults.color = token("--color-text-muted", "#57606a");
    Chart.defaults.borderColor = token("--color-border", "#dde1e6");
    if (window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches) {
      Chart.defaults.animation = false;
    }
    charts.forEach(function (chart) {
      var canvas = document.querySelector('canvas[data-chart="' + chart.id + '"]');
      if (!canvas) return;
      var datasets = chart.series.map(function (series, index) {
        var colour = colours[index % colours.length];
        return {
          label: series.label,
          data: series.values,
          backgroundColor: colour,
          borderColor: colour,
          borderWidth: 2,
          pointRadius: chart.labels.length > 40 ? 0 : 3,
          spanGaps: true,
          maxBarThickness: 28
        };
      });
      new Chart(canvas, {
        type: chart.type,
        data: {labels: chart.labels, datasets: datasets},
        options: {
          responsive: true,
          maintainAspectRatio: false,
          indexAxis: chart.horizontal ? "y" : "x",
          interaction: {mode: "index", intersect: false},
          plugins: {legend: {display: datasets.length > 1, position: "bottom", labels: {boxWidth: 12}}},
          scales: {
            x: {grid: {display: false}, ticks: {autoSkip: true, maxRotation: 0}},
            y: {beginAtZero: true, ticks: {precision: 0}}
          }
        }
      });
    });
  }

  function customDates() {
    var form = document.querySelector("[data-report-filters]");
    if (!form) return;
    var period = form.querySelector('select[name="period"]');
    form.querySelectorAll('input[type="date"]').forEach(function (input) {
      input.addEventListener("change", function () {
        if (period && input.value) period.value = "custom";
      });
    });
  }

  function start() {
    customDates();
    drawCharts();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
