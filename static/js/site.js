// Small enhancements; every page works without them.
(function () {
  "use strict";

  // "Fill with a typical example": fill the fields from their data-example values.
  var fill = document.getElementById("fill-example");
  var form = document.getElementById("predict-form");
  if (fill && form) {
    fill.addEventListener("click", function (event) {
      event.preventDefault();
      form.querySelectorAll("[data-example]").forEach(function (el) {
        el.value = el.getAttribute("data-example");
      });
    });
  }

  // Training page: show only the hyperparameters of the chosen algorithm; reload the
  // target columns when another dataset is picked.
  var train = document.getElementById("train-form");
  if (train) {
    var algorithm = train.querySelector("[name=algorithm]");
    var sync = function () {
      train.querySelectorAll("[data-algorithms]").forEach(function (el) {
        var used = el.getAttribute("data-algorithms").split(" ").indexOf(algorithm.value) >= 0;
        el.closest(".field").classList.toggle("hidden-param", !used);
      });
    };
    algorithm.addEventListener("change", sync);
    sync();
    var dataset = train.querySelector("[name=dataset]");
    dataset.addEventListener("change", function () {
      window.location.search = "?dataset=" + encodeURIComponent(dataset.value);
    });
  }

  // Job page: poll the job and move the progress bar; reload once it is done.
  var job = document.getElementById("job");
  if (job && job.getAttribute("data-done") === "0") {
    var url = job.getAttribute("data-job-url");
    var poll = function () {
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.json(); })
        .then(function (data) {
          document.getElementById("job-progress").value = data.progress;
          document.getElementById("job-status").textContent = data.status;
          document.getElementById("job-message").textContent = data.message;
          if (data.status === "succeeded" || data.status === "failed") {
            window.location.reload();
          } else {
            window.setTimeout(poll, 700);
          }
        })
        .catch(function () { window.setTimeout(poll, 2000); });
    };
    window.setTimeout(poll, 500);
  }
})();
