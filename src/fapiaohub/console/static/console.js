// fapiaohub console: the overview chart, drag-and-drop upload and task progress polling. No build step.
(function () {
  "use strict";
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var csrf = csrfMeta ? csrfMeta.content : "";
  var STATES = { toProcess: "待处理", processing: "处理中", processed: "已完成", failed: "失败",
                 disabled: "未开通", notSupported: "不支持" };

  var chartData = document.getElementById("chart-data");
  if (chartData && window.Chart) {
    var data = JSON.parse(chartData.textContent);
    new window.Chart(document.getElementById("chart"), {
      type: "bar",
      data: {
        labels: data.labels,
        datasets: [
          { label: "进项 价税合计", data: data.jx.map(Number), backgroundColor: "#1f6feb" },
          { label: "销项 价税合计", data: data.xx.map(Number), backgroundColor: "#c0392b" }
        ]
      },
      options: { animation: false, responsive: true, plugins: { legend: { position: "top" } },
                 scales: { y: { ticks: { callback: function (v) { return Number(v).toLocaleString("zh-CN"); } } } } }
    });
  }

  function poll(taskId, show) {
    fetch("/console/tasks/" + encodeURIComponent(taskId) + "/status", { headers: { "X-CSRF-Token": csrf } })
      .then(function (r) { return r.json(); })
      .then(function (t) {
        show(t);
        if (!t.done) { setTimeout(function () { poll(taskId, show); }, 1000); }
      });
  }

  var form = document.getElementById("upload");
  if (form) {
    var drop = document.getElementById("drop");
    var input = document.getElementById("files");
    var chosen = document.getElementById("chosen");
    var progress = document.getElementById("progress");
    var files = [];
    function setFiles(list) {
      files = Array.prototype.slice.call(list);
      chosen.textContent = files.map(function (f) { return f.name; }).join("、");
    }
    input.addEventListener("change", function () { setFiles(input.files); });
    ["dragenter", "dragover"].forEach(function (e) {
      drop.addEventListener(e, function (ev) { ev.preventDefault(); drop.classList.add("over"); });
    });
    ["dragleave", "drop"].forEach(function (e) {
      drop.addEventListener(e, function (ev) { ev.preventDefault(); drop.classList.remove("over"); });
    });
    drop.addEventListener("drop", function (ev) { setFiles(ev.dataTransfer.files); });
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      if (!files.length) { progress.textContent = "请先选择文件"; return; }
      var body = new FormData();
      body.append("csrf", csrf);
      body.append("taxpayer", form.taxpayer.value);
      body.append("direction", form.direction.value);
      files.forEach(function (f) { body.append("files", f, f.name); });
      progress.textContent = "上传中…";
      fetch(form.action, { method: "POST", body: body, headers: { "X-CSRF-Token": csrf } })
        .then(function (r) { return r.json().then(function (j) { return { ok: r.ok, body: j }; }); })
        .then(function (res) {
          if (!res.ok) { progress.textContent = "上传失败：" + res.body.error; return; }
          var id = res.body.taskId;
          progress.innerHTML = "";
          var link = document.createElement("a");
          link.href = "/console/tasks/" + id;
          link.id = "new-task";
          link.textContent = "任务 " + id;
          var state = document.createElement("span");
          state.id = "upload-state";
          progress.appendChild(link);
          progress.appendChild(document.createTextNode("："));
          progress.appendChild(state);
          poll(id, function (t) {
            var c = t.counts;
            state.textContent = (STATES[t.state] || t.state) + (t.done ? "（新增" + c.inserted + "，更新" + c.updated + "，未变" +
              c.unchanged + "，拒绝" + c.rejected + "）" + (t.message ? " " + t.message : "") : " 处理中…");
            state.dataset.state = t.state;
          });
        })
        .catch(function (e) { progress.textContent = "上传失败：" + e; });
    });
  }

  var task = document.getElementById("task");
  if (task && task.dataset.done === "0") {
    poll(task.dataset.task, function (t) {
      if (t.done) { window.location.reload(); return; }
      document.getElementById("task-state").textContent = STATES[t.state] || t.state;
    });
  }
})();
