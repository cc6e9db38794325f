// A confirmation shown after a redirect ("Your choices are saved.") is in a live region
// (role="status"), but it was there when the page loaded, and screen readers only say what
// changes in a live region. So once the page is up, put its words back in as new nodes: the
// same text, now announced. Nothing changes on the screen.
(function () {
  "use strict";
  var notices = document.querySelectorAll("[data-announce]");
  if (!notices.length) return;
  // A moment's wait: a region changed while the page is still loading may not be listened to.
  window.setTimeout(function () {
    Array.prototype.forEach.call(notices, function (notice) {
      Array.prototype.slice.call(notice.children).forEach(function (words) {
        words.replaceWith(words.cloneNode(true));
      });
    });
  }, 300);
})();
