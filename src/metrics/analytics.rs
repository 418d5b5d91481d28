//! The Workers Analytics Engine data points the Worker writes when `MESH_ANALYTICS` is bound: one per
//! request, per tool call and per broadcast, all in one layout so one SQL query covers them:
//! `index1` and `blob1` the kind, `blob2` the tool, `blob3` the status (HTTP status or outcome),
//! `double1` the duration in milliseconds, `double2` the recipients, `double3` the shards called.

use super::counters::ToolOutcome;

/// Analytics Engine refuses an index over 96 bytes; blobs are kept short so a point stays far below
/// the 16 KB limit.
const MAX_INDEX_BYTES: usize = 96;
const MAX_BLOB_BYTES: usize = 256;

/// One data point, ready for `writeDataPoint`.
#[derive(Debug, Clone, PartialEq)]
pub struct DataPoint {
    /// The sampling key (`indexes[0]`): the kind.
    pub index: String,
    /// kind, tool, status.
    pub blobs: [String; 3],
    /// duration (ms), recipients, shards.
    pub doubles: [f64; 3],
}

impl DataPoint {
    fn new(kind: &str, tool: &str, status: &str, doubles: [f64; 3]) -> Self {
        Self {
            index: truncated(kind, MAX_INDEX_BYTES),
            blobs: [
                truncated(kind, MAX_BLOB_BYTES),
                truncated(tool, MAX_BLOB_BYTES),
                truncated(status, MAX_BLOB_BYTES),
            ],
            doubles,
        }
    }

    /// A request to `route`, answered with `status` after `duration_ms`.
    pub fn request(route: &str, status: u16, duration_ms: f64) -> Self {
        Self::new(route, "", &status.to_string(), [duration_ms, 0.0, 0.0])
    }

    /// A call of `tool`.
    pub fn tool_call(tool: &str, outcome: ToolOutcome, duration_ms: f64) -> Self {
        Self::new("tool_call", tool, outcome.label(), [duration_ms, 0.0, 0.0])
    }

    /// A broadcast that reached `recipients` streams through `calls` calls.
    pub fn broadcast(duration_ms: f64, recipients: u64, calls: usize, failed: bool) -> Self {
        let status = if failed { "failed" } else { "ok" };
        Self::new("broadcast", "", status, [duration_ms, recipients as f64, calls as f64])
    }
}

/// `value` cut to at most `max` bytes on a character boundary.
fn truncated(value: &str, max: usize) -> String {
    if value.len() <= max {
        return value.to_owned();
    }
    let mut end = max;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    value[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_point_has_the_same_layout() {
        let request = DataPoint::request("mcp_post", 202, 3.5);
        assert_eq!(request.blobs, ["mcp_post".to_owned(), String::new(), "202".to_owned()]);
        assert_eq!(request.doubles, [3.5, 0.0, 0.0]);
        let tool = DataPoint::tool_call("countdown", ToolOutcome::ToolError, 9.0);
        assert_eq!(
            (tool.index.as_str(), tool.blobs[1].as_str(), tool.blobs[2].as_str()),
            ("tool_call", "countdown", "tool_error")
        );
        let broadcast = DataPoint::broadcast(40.0, 1_000, 16, false);
        assert_eq!(broadcast.doubles, [40.0, 1_000.0, 16.0]);
        assert_eq!(broadcast.blobs[2], "ok");
    }

    #[test]
    fn long_values_are_cut_on_a_character_boundary() {
        let tool = "é".repeat(200);
        let point = DataPoint::tool_call(&tool, ToolOutcome::Ok, 1.0);
        assert!(point.blobs[1].len() <= MAX_BLOB_BYTES && point.blobs[1].chars().all(|c| c == 'é'));
        let index = DataPoint::request(&"k".repeat(200), 200, 1.0).index;
        assert_eq!(index.len(), MAX_INDEX_BYTES);
    }
}
