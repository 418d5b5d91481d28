//! `@mcp-mesh/tmcp` as a user gets it: `npm pack` of js/tmcp-mesh, installed into an empty directory
//! outside the repository together with tmcp from the registry, a server written from the package
//! README's three blocks alone (the `npm install` line, `src/index.js`, `wrangler.toml`), served with
//! `wrangler dev`, and the TypeScript SDK client against it (tests/clients/package_client.mjs). Also:
//! the package is versioned with the crate and ships its wasm, types, README and license.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::e2e_http::check;
use super::interop::{finish, node, root, run};
use super::workerd::Wrangler;

const PACKAGE_DIR: &str = "js/tmcp-mesh";

/// The README's first fenced block of `language` (and containing `must_contain`).
fn readme_block(readme: &str, language: &str, must_contain: &str) -> Result<String, String> {
    let fence = format!("```{language}\n");
    readme
        .split(&fence)
        .skip(1)
        .filter_map(|rest| rest.split_once("\n```").map(|(block, _)| block.to_owned() + "\n"))
        .find(|block| block.contains(must_contain))
        .ok_or_else(|| format!("the package README has no ```{language} block with {must_contain:?}"))
}

/// Runs npm in `dir`; its standard output.
fn npm(args: &[&str], dir: &Path) -> Result<String, String> {
    let output = Command::new("npm")
        .args(args)
        .current_dir(dir)
        .env("npm_config_audit", "false")
        .env("npm_config_fund", "false")
        .env("npm_config_update_notifier", "false")
        .output()
        .map_err(|e| format!("npm {args:?}: {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    check(
        output.status.success(),
        format!("npm {args:?} failed: {stdout}{}", String::from_utf8_lossy(&output.stderr)),
    )?;
    Ok(stdout)
}

/// The whole check; its summary.
pub fn installed_from_the_tarball() -> Result<String, String> {
    let package_dir = root().join(PACKAGE_DIR);
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(package_dir.join("package.json")).map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    let version = manifest["version"].as_str().unwrap_or_default();
    check(version == env!("CARGO_PKG_VERSION"), format!("package {version}, crate {}", env!("CARGO_PKG_VERSION")))?;

    let home = std::env::temp_dir().join(format!("mcp-mesh-package-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&home);
    std::fs::create_dir_all(home.join("src")).map_err(|e| e.to_string())?;
    // The build has put the wasm in place (`make e2e` builds first); prepack would build it again.
    let packed = npm(&["pack", "--ignore-scripts", "--pack-destination", &home.to_string_lossy()], &package_dir)?;
    let tarball: PathBuf =
        home.join(packed.lines().rev().find(|l| l.ends_with(".tgz")).ok_or("npm pack named no tarball")?);
    let listing = Command::new("tar").arg("-tzf").arg(&tarball).output().map_err(|e| e.to_string())?;
    let listing = String::from_utf8_lossy(&listing.stdout);
    for file in ["wasm/index_bg.wasm", "wasm/index.js", "types/index.d.ts", "README.md", "LICENSE", "src/index.js"] {
        check(listing.contains(&format!("package/{file}")), format!("the tarball lacks {file}"))?;
    }

    let readme = std::fs::read_to_string(package_dir.join("README.md")).map_err(|e| e.to_string())?;
    let install = readme_block(&readme, "sh", "npm install")?;
    let index = readme_block(&readme, "js", "export default")?;
    let wrangler_toml = readme_block(&readme, "toml", "new_sqlite_classes")?;
    std::fs::write(home.join("package.json"), "{ \"private\": true, \"type\": \"module\" }\n")
        .map_err(|e| e.to_string())?;
    std::fs::write(home.join("src/index.js"), index).map_err(|e| e.to_string())?;
    std::fs::write(home.join("wrangler.toml"), wrangler_toml).map_err(|e| e.to_string())?;
    let packages: Vec<String> = install
        .split_whitespace()
        .skip_while(|word| *word != "install")
        .skip(1)
        .map(|name| if name == "@mcp-mesh/tmcp" { tarball.to_string_lossy().into_owned() } else { name.to_owned() })
        .collect();
    check(packages.iter().any(|p| p.ends_with(".tgz")), "the README's install line does not install @mcp-mesh/tmcp")?;
    let mut args = vec!["install"];
    args.extend(packages.iter().map(String::as_str));
    npm(&args, &home)?;

    let config = home.join("wrangler.toml").to_string_lossy().into_owned();
    let server = Wrangler::start_with_args(Some(&config), Some("mcp-mesh-package"), &[])
        .map_err(|error| format!("the README's server did not start: {error}"))?;
    let url = server.url("/mcp");
    let (ok, output) = run(&node(), &["tests/clients/package_client.mjs", &url], Duration::from_secs(120))?;
    let outcome = finish(ok, &output, "package:");
    if outcome.is_err() {
        eprintln!("--- package server log (tail) ---\n{}", server.log_tail());
    }
    drop(server);
    let _ = std::fs::remove_dir_all(&home);
    outcome.map(|summary| {
        format!(
            "{summary} (@mcp-mesh/tmcp {version} from {})",
            tarball.file_name().unwrap_or_default().to_string_lossy()
        )
    })
}
