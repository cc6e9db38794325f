// A confirmation shown after a redirect ("Your choices are saved.") is on the page before any
// live region could notice it arrive, so screen readers would not say it. Once the page is
// up, put its words into the page's live region (#announcer), which they do read out.
(function () {
  "use strict";
  var notice = document.querySelector("[data-announce]");
  var live = document.getElementById("announcer");
  if (!notice || !live) return;
  // A moment's wait: a live region changed as the page loads is not always listened to yet.
  window.setTimeout(function () { live.textContent = notice.textContent.replace(/\s+/g, " ").trim(); }, 300);
})();
