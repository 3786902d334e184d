// Small progressive enhancements; every action works without JavaScript.
document.addEventListener("submit", function (event) {
  var form = event.target;
  var question = form.getAttribute("data-confirm");
  if (question && !window.confirm(question)) { event.preventDefault(); return; }
  // one click, one request: disable the buttons once the form is on its way
  if (form.dataset.sent) { event.preventDefault(); return; }
  form.dataset.sent = "1";
});
