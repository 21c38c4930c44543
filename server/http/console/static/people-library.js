// The People and Photo library pages: a .drop box takes files dropped anywhere on it into its (first) file input,
// so a photo can be dropped on the search box, or a roster's photos on the import form.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll(".drop").forEach(function (box) {
    var input = box.querySelector("input[type=file]");
    if (!input) { return; }
    box.addEventListener("dragover", function (event) { event.preventDefault(); box.classList.add("over"); });
    box.addEventListener("dragleave", function () { box.classList.remove("over"); });
    box.addEventListener("drop", function (event) {
      event.preventDefault();
      box.classList.remove("over");
      if (event.dataTransfer && event.dataTransfer.files.length) {
        input.files = input.multiple ? event.dataTransfer.files : (function () {
          var one = new DataTransfer();
          one.items.add(event.dataTransfer.files[0]);
          return one.files;
        })();
        input.dispatchEvent(new Event("change", { bubbles: true }));
      }
    });
  });
});
