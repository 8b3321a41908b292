// tiertrace: "Expand all" / "Collapse all" for the chain tree. The tree itself is <details> elements, which
// work with the keyboard (Tab to a node, Enter or Space to open it) and without this script.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-tree-tools]").forEach((tools) => {
    tools.hidden = false;
  });
  document.querySelectorAll("[data-expand], [data-collapse]").forEach((button) => {
    const open = button.hasAttribute("data-expand");
    const tree = document.getElementById(button.dataset.expand || button.dataset.collapse);
    button.addEventListener("click", () => {
      tree.querySelectorAll("details").forEach((node) => {
        node.open = open;
      });
    });
  });
});
