(function () {
  "use strict";
  function key(td, type) {
    var v = td.getAttribute("data-v");
    if (type === "num") { return v === "" ? null : parseFloat(v); }
    return v;
  }
  function sortBy(table, th, col) {
    var type = th.getAttribute("data-type");
    var asc = th.getAttribute("aria-sort") !== "ascending";
    var heads = table.tHead.rows[0].cells;
    for (var i = 0; i < heads.length; i++) { heads[i].removeAttribute("aria-sort"); }
    th.setAttribute("aria-sort", asc ? "ascending" : "descending");
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.forEach(function (r, i) { r._i = i; });
    rows.sort(function (a, b) {
      var x = key(a.cells[col], type), y = key(b.cells[col], type);
      if (x === null || x === "") { return (y === null || y === "") ? a._i - b._i : 1; }
      if (y === null || y === "") { return -1; }
      var c = type === "num" ? x - y : (x < y ? -1 : x > y ? 1 : 0);
      if (c === 0) { return a._i - b._i; }
      return asc ? c : -c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }
  var tables = document.querySelectorAll("table.sortable");
  Array.prototype.forEach.call(tables, function (table) {
    var heads = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(heads, function (th, col) {
      th.addEventListener("click", function () { sortBy(table, th, col); });
      th.addEventListener("keydown", function (ev) {
        if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); sortBy(table, th, col); }
      });
    });
  });
  var filter = document.getElementById("filter");
  var layers = document.getElementById("layers");
  var count = document.getElementById("shown");
  if (filter && layers) {
    filter.addEventListener("input", function () {
      var q = filter.value.toLowerCase();
      var rows = layers.tBodies[0].rows, n = 0;
      for (var i = 0; i < rows.length; i++) {
        var hit = rows[i].textContent.toLowerCase().indexOf(q) >= 0;
        rows[i].style.display = hit ? "" : "none";
        if (hit) { n++; }
      }
      if (count) { count.textContent = n + " of " + rows.length + " matrices"; }
    });
  }
  Array.prototype.forEach.call(document.querySelectorAll("button.toggle-columns"), function (btn) {
    var table = document.getElementById(btn.getAttribute("data-table"));
    if (!table) { return; }
    btn.addEventListener("click", function () {
      var all = table.classList.toggle("all");
      var n = btn.getAttribute("data-hidden");
      btn.textContent = all ? "fewer columns" : "all columns (+" + n + ")";
    });
  });
  var toggle = document.getElementById("toggle-figures");
  if (toggle) {
    toggle.addEventListener("click", function () {
      var all = document.querySelectorAll("#figures details");
      var open = toggle.getAttribute("data-open") !== "1";
      Array.prototype.forEach.call(all, function (d) { d.open = open; });
      toggle.setAttribute("data-open", open ? "1" : "0");
      toggle.textContent = open ? "collapse all" : "expand all";
    });
  }
})();
