// The subscribe form: choosing a role ticks that role's default topics and frequencies.
(function () {
  "use strict";
  var role = document.getElementById("role");
  var data = document.getElementById("role-defaults");
  if (!role || !data) return;
  var defaults = {};
  var given = JSON.parse(data.textContent);
  Object.keys(given).forEach(function (name) { defaults[name.trim().toLowerCase()] = given[name]; });

  function tick() {
    var chosen = defaults[role.value.trim().toLowerCase()];
    if (!chosen) return;
    var radios = document.querySelectorAll('input[type="radio"][name^="topic-"]');
    Array.prototype.forEach.call(radios, function (radio) {
      radio.checked = radio.value === (chosen[radio.name] || "");
    });
  }

  role.addEventListener("change", tick);
  role.addEventListener("input", tick);
})();
