// facegrid console: live lists and the webcam, nothing else (no library, nothing fetched from another host).
"use strict";

// An element with data-refresh="URL" is replaced every data-every seconds (default 3) by the HTML fragment at URL,
// with the page's own query (its filters) passed on.
function refreshLive() {
  document.querySelectorAll("[data-refresh]").forEach(function (box) {
    var every = Number(box.dataset.every || 3) * 1000;
    var load = function () {
      var url = box.dataset.refresh + window.location.search;
      fetch(url, { credentials: "same-origin", headers: { "X-Requested-With": "console" } })
        .then(function (r) {
          if (r.redirected) { window.location.reload(); return Promise.reject(r.status); }  // signed out: to sign-in
          return r.ok ? r.text() : Promise.reject(r.status);
        })
        .then(function (html) { box.innerHTML = html; box.dataset.loaded = String(Date.now()); })
        .catch(function () { /* the next round tries again */ });
    };
    setInterval(load, every);
  });
}

// A form with data-webcam: a video preview, a "Take photo" button that puts the frame into the form's file input.
// getUserMedia works only over HTTPS or on localhost: say so instead of failing silently.
function setUpWebcam() {
  document.querySelectorAll("[data-webcam]").forEach(function (box) {
    var start = box.querySelector("[data-webcam-start]");
    var video = box.querySelector("video");
    var take = box.querySelector("[data-webcam-take]");
    var input = document.getElementById(box.dataset.webcam);
    var status = box.querySelector("[data-webcam-status]");
    if (!start || !video || !take || !input) { return; }
    if (!window.isSecureContext || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      status.textContent = "The webcam works only over HTTPS or on localhost; upload a photo instead.";
      start.disabled = true;
      return;
    }
    start.addEventListener("click", function () {
      navigator.mediaDevices.getUserMedia({ video: { width: 1280, height: 720 } }).then(function (stream) {
        video.srcObject = stream; video.hidden = false; take.hidden = false; status.textContent = "";
      }).catch(function (e) { status.textContent = "No webcam: " + e.name; });
    });
    take.addEventListener("click", function () {
      var canvas = document.createElement("canvas");
      canvas.width = video.videoWidth; canvas.height = video.videoHeight;
      canvas.getContext("2d").drawImage(video, 0, 0);
      canvas.toBlob(function (blob) {
        var files = new DataTransfer();
        files.items.add(new File([blob], "webcam.jpg", { type: "image/jpeg" }));
        input.files = files.files;
        status.textContent = "Photo taken: " + Math.round(blob.size / 1024) + " KB";
      }, "image/jpeg", 0.92);
    });
  });
}

// Buttons with data-confirm ask before their form is sent (forget, revoke).
function confirmDanger() {
  document.querySelectorAll("form [data-confirm]").forEach(function (button) {
    button.form.addEventListener("submit", function (event) {
      if (event.submitter === button && !window.confirm(button.dataset.confirm)) { event.preventDefault(); }
    });
  });
}

document.addEventListener("DOMContentLoaded", function () { refreshLive(); setUpWebcam(); confirmDanger(); });
