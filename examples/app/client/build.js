// `npm run build`: writes dist/page.html from src/page.html (stdlib only).
"use strict";
const fs = require("fs");
const path = require("path");

const src = fs.readFileSync(path.join(__dirname, "src", "page.html"), "utf8");
fs.mkdirSync(path.join(__dirname, "dist"), { recursive: true });
const out = src.replace("{{built}}", new Date().toISOString());
fs.writeFileSync(path.join(__dirname, "dist", "page.html"), out);
console.log("built dist/page.html");
