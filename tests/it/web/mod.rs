//! The web console (`corvus --http`, issue 21): its API and login over
//! real HTTP, and the page in a real browser.

mod browser;
mod browser_definitions;
mod http;
mod https;
