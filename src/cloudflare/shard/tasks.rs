//! The part of `SyncLayer` that keeps and runs the tasks hashed onto it: its own `tasks` table (the
//! whole record, its owner, status and expiry), the runs of this instance, and their upkeep.
//!
//! A task's handler runs here, in the shard, not in the Worker that created it: the work outlives
//! the request and the client's connection. The object's alarm holds it while runs go on (an alarm
//! in progress keeps the object alive, where a bare timer after the last request may not), so
//! creating or resuming a task arms the alarm now unless an alarm is already holding. A run's every
//! change is written to the table, then sent as `notifications/tasks` to the listen streams that
//! named the task. A task found `working` with no run in this instance was cut by a restart: it is
//! run again, or failed past `MAX_RESUMES` (`crate::tasks::upkeep`). Cancelling aborts the run at its
//! next `await`.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use futures::future::{AbortHandle, Abortable};
use futures::StreamExt;
use worker::{Env, SqlStorage, State};

use super::super::log;
use super::super::settings;
use super::super::sql;
use super::super::stubs::platform;
use super::super::timer;
use super::now_ms;
use crate::error::{MeshError, Result};
use crate::log_event::{Level, LogEvent};
use crate::mcp::backend::{Broker, OutgoingNotification};
use crate::protocol::{AnswerTask, CancelTask, GetTask, TaskReply};
use crate::tasks::upkeep::{recovery, Recovery};
use crate::tasks::wire::{progress_message, status_notification_params, STATUS_NOTIFICATION};
use crate::tasks::{task_topic, TaskRecord, TaskStatus};

/// How often the alarm that holds the object looks whether its runs are done.
const HOLD_CHECK_MS: u32 = 250;
/// The longest task id a shard stores.
const MAX_TASK_ID_BYTES: usize = 128;

/// The shard's tasks.
pub(super) struct ShardTasks {
    sql: SqlStorage,
    env: Env,
    state: Rc<State>,
    /// The runs of this instance, by task id: each with its number, so a run that ends removes only
    /// itself, never a run started after it.
    runs: RefCell<HashMap<String, (u64, AbortHandle)>>,
    /// The number of the next run.
    next_run: Cell<u64>,
    /// An alarm of this instance is holding the object until its runs end.
    holding: Cell<bool>,
    /// The shard's number, for log lines.
    shard: Cell<u32>,
}

#[derive(serde::Deserialize)]
struct RecordRow {
    record: String,
}

impl ShardTasks {
    pub fn new(sql: SqlStorage, env: Env, state: Rc<State>, shard: u32) -> Rc<Self> {
        let table = "CREATE TABLE IF NOT EXISTS tasks (id TEXT PRIMARY KEY, status TEXT NOT NULL, \
                     expires_at REAL, record TEXT NOT NULL)";
        sql::create_table(&sql, "shard tasks", table);
        Rc::new(Self {
            sql,
            env,
            state,
            runs: RefCell::default(),
            next_run: Cell::new(0),
            holding: Cell::new(false),
            shard: Cell::new(shard),
        })
    }

    pub fn set_shard(&self, shard: u32) {
        self.shard.set(shard);
    }

    /// How many handlers run in this instance now.
    pub fn running(&self) -> u64 {
        self.runs.borrow().len() as u64
    }

    /// Stores a new task, then starts its work (the reply waits for the write: output gates).
    pub async fn create(self: &Rc<Self>, task: TaskRecord) -> Result<TaskReply> {
        if task.task_id.is_empty() || task.task_id.len() > MAX_TASK_ID_BYTES || task.status != TaskStatus::Working {
            return Err(MeshError::InvalidParams("a new task needs an id of 1 to 128 bytes and to be working".into()));
        }
        if self.load(&task.task_id)?.is_some() {
            return Err(MeshError::InvalidParams(format!("task {} exists", task.task_id)));
        }
        self.store(&task)?;
        self.start_run(&task.task_id).await?;
        Ok(TaskReply { task: Some(task), changed: true, refused: None })
    }

    /// The task as `call.owner` sees it. A task left `working` by a restart is resumed (or failed)
    /// here too, so a poll after a restart moves it on even before the alarm does.
    pub async fn get(self: &Rc<Self>, call: GetTask) -> Result<TaskReply> {
        let Some(task) = self.visible(&call.task_id, call.owner.as_deref())? else { return Ok(TaskReply::default()) };
        let task = self.recover_if_orphaned(task).await?;
        Ok(TaskReply { task: Some(task), changed: false, refused: None })
    }

    /// Applies answers; the work starts again once every question is answered.
    pub async fn answer(self: &Rc<Self>, call: AnswerTask) -> Result<TaskReply> {
        let Some(mut task) = self.visible(&call.task_id, call.owner.as_deref())? else {
            return Ok(TaskReply::default());
        };
        let given = call.responses.len();
        let answered = match task.answer(call.responses, now_ms()) {
            Ok(answered) => answered,
            Err(MeshError::InvalidParams(why)) => return Ok(TaskReply { refused: Some(why), ..TaskReply::default() }),
            Err(error) => return Err(error),
        };
        let changed = answered.ignored.len() < given;
        if changed {
            self.store(&task)?;
            if answered.resume {
                self.start_run(&task.task_id).await?;
            }
            self.notify(&task).await;
        }
        Ok(TaskReply { task: Some(task), changed, refused: None })
    }

    /// Cancels the task and aborts its run.
    pub async fn cancel(self: &Rc<Self>, call: CancelTask) -> Result<TaskReply> {
        let Some(mut task) = self.visible(&call.task_id, call.owner.as_deref())? else {
            return Ok(TaskReply::default());
        };
        let changed = task.cancel(now_ms());
        if changed {
            self.store(&task)?;
            if let Some((_, run)) = self.runs.borrow_mut().remove(&task.task_id) {
                run.abort();
            }
            self.notify(&task).await;
        }
        Ok(TaskReply { task: Some(task), changed, refused: None })
    }

    /// The alarm's share: forgets expired tasks, resumes (or fails) the ones a restart cut, holds the
    /// object while this instance's runs go on, and re-arms for the next expiry.
    pub async fn upkeep(self: &Rc<Self>) -> Result<()> {
        let now = now_ms() as f64;
        sql::exec(&self.sql, "DELETE FROM tasks WHERE expires_at IS NOT NULL AND expires_at <= ?", vec![now.into()])?;
        let working: Vec<RecordRow> =
            sql::rows(&self.sql, "SELECT record FROM tasks WHERE status = 'working'", vec![])?;
        for row in working {
            if let Ok(task) = serde_json::from_str::<TaskRecord>(&row.record) {
                self.recover_if_orphaned(task).await?;
            }
        }
        self.holding.set(true);
        while !self.runs.borrow().is_empty() {
            timer::sleep(HOLD_CHECK_MS).await;
        }
        self.holding.set(false);
        self.arm_for_next_expiry().await
    }

    /// Resumes a `working` task no run of this instance holds (a restart cut its run), or fails it
    /// past its resumes; the task after it.
    async fn recover_if_orphaned(self: &Rc<Self>, mut task: TaskRecord) -> Result<TaskRecord> {
        if self.runs.borrow().contains_key(&task.task_id) {
            return Ok(task);
        }
        match recovery(&task) {
            None => {}
            Some(Recovery::Resume) => {
                task.restarts += 1;
                self.store(&task)?;
                self.start_run(&task.task_id).await?;
            }
            Some(Recovery::Abandon(why)) => {
                task.abandon(&why, now_ms());
                self.store(&task)?;
                self.notify(&task).await;
            }
        }
        Ok(task)
    }

    fn visible(&self, id: &str, owner: Option<&str>) -> Result<Option<TaskRecord>> {
        Ok(self.load(id)?.filter(|task| task.visible_to(owner) && !task.expired(now_ms())))
    }

    fn load(&self, id: &str) -> Result<Option<TaskRecord>> {
        let rows: Vec<RecordRow> = sql::rows(&self.sql, "SELECT record FROM tasks WHERE id = ?", vec![id.into()])?;
        match rows.into_iter().next() {
            Some(row) => Ok(Some(serde_json::from_str(&row.record)?)),
            None => Ok(None),
        }
    }

    fn store(&self, task: &TaskRecord) -> Result<()> {
        let status = serde_json::to_value(task.status)?.as_str().unwrap_or("working").to_owned();
        let expires_at = task.ttl_ms.map(|ttl| task.created_ms.saturating_add(ttl) as f64);
        sql::exec(
            &self.sql,
            "INSERT OR REPLACE INTO tasks (id, status, expires_at, record) VALUES (?, ?, ?, ?)",
            vec![task.task_id.as_str().into(), status.into(), expires_at.into(), serde_json::to_string(task)?.into()],
        )?;
        Ok(())
    }

    /// Starts a run of the task unless one runs, and makes sure an alarm holds the object for it.
    async fn start_run(self: &Rc<Self>, id: &str) -> Result<()> {
        if self.runs.borrow().contains_key(id) {
            return Ok(());
        }
        let (handle, registration) = AbortHandle::new_pair();
        let number = self.next_run.get();
        self.next_run.set(number + 1);
        self.runs.borrow_mut().insert(id.to_owned(), (number, handle));
        let (tasks, id) = (self.clone(), id.to_owned());
        wasm_bindgen_futures::spawn_local(async move {
            let _ = Abortable::new(tasks.clone().run(id.clone(), number), registration).await;
            tasks.run_ended(&id, number);
        });
        if !self.holding.get() {
            let storage = self.state.storage();
            storage.set_alarm(now_ms() as i64).await.map_err(platform("set_alarm"))?;
        }
        Ok(())
    }

    /// Forgets run `number` of the task, unless a later run replaced it.
    fn run_ended(&self, id: &str, number: u64) {
        let mut runs = self.runs.borrow_mut();
        if runs.get(id).is_some_and(|(running, _)| *running == number) {
            runs.remove(id);
        }
    }

    /// One run: the handler with the task's arguments and answers; each progress report and the
    /// outcome written and told to the task's listeners. The run ends as soon as its outcome is
    /// stored, so an answer that comes while listeners are told starts the next run.
    async fn run(self: Rc<Self>, id: String, number: u64) {
        let Ok(Some(mut task)) = self.load(&id) else { return };
        if task.status != TaskStatus::Working {
            return;
        }
        let server = super::super::task_server()
            .ok_or_else(|| "no MCP server is registered in this isolate (call register_server at start)".to_owned());
        let config = settings::load(&self.env).map_err(|error| error.to_string());
        let (server, mesh) = match (server, config) {
            (Ok(server), Ok(config)) => (server, Rc::new(super::super::DurableMesh::new(self.env.clone(), config))),
            (Err(why), _) | (_, Err(why)) => {
                task.abandon(&why, now_ms());
                self.store_and_notify(&task).await;
                return;
            }
        };
        task.runs += 1;
        if let Err(error) = self.store(&task) {
            self.log_failure(&id, &error);
            return;
        }
        let (progress, reports) = futures::channel::mpsc::unbounded::<String>();
        let work = server.run_task(mesh, &task, progress);
        let watch = reports.for_each(|report| {
            let tasks = self.clone();
            let id = id.clone();
            async move {
                let Some(message) = progress_message(&report) else { return };
                if let Ok(Some(mut task)) = tasks.load(&id) {
                    if task.report_progress(message, now_ms()) {
                        tasks.store_and_notify(&task).await;
                    }
                }
            }
        });
        let (outcome, ()) = futures::join!(work, watch);
        let Some(mut task) = (match self.load(&id) {
            Ok(task) => task,
            Err(error) => return self.log_failure(&id, &error),
        }) else {
            return self.run_ended(&id, number);
        };
        let before = task.clone();
        task.finish(outcome, now_ms());
        if let Err(error) = self.store(&task) {
            // An outcome the table cannot hold (a result past SQLite's row limit) fails the task
            // rather than leaving it `working`.
            task = before;
            task.abandon(&format!("the task's outcome could not be stored: {error}"), now_ms());
            if let Err(error) = self.store(&task) {
                return self.log_failure(&id, &error);
            }
        }
        self.run_ended(&id, number);
        self.notify(&task).await;
    }

    async fn store_and_notify(&self, task: &TaskRecord) {
        match self.store(task) {
            Ok(()) => self.notify(task).await,
            Err(error) => self.log_failure(&task.task_id, &error),
        }
    }

    /// `notifications/tasks` to the listen streams that named the task.
    async fn notify(&self, task: &TaskRecord) {
        let config = match settings::load(&self.env) {
            Ok(config) => config,
            Err(error) => return self.log_failure(&task.task_id, &error),
        };
        let mesh = super::super::DurableMesh::new(self.env.clone(), config);
        let notification = OutgoingNotification::from_parts(STATUS_NOTIFICATION, status_notification_params(task));
        if let Err(error) = mesh.publish_to_subscribers(&task_topic(&task.task_id), &notification).await {
            self.log_failure(&task.task_id, &error);
        }
    }

    /// Arms the alarm for the earliest task expiry, unless an earlier alarm is set.
    async fn arm_for_next_expiry(&self) -> Result<()> {
        #[derive(serde::Deserialize)]
        struct Next {
            at: Option<f64>,
        }
        let next: Vec<Next> = sql::rows(&self.sql, "SELECT MIN(expires_at) AS at FROM tasks", vec![])?;
        let Some(at) = next.first().and_then(|row| row.at) else { return Ok(()) };
        let storage = self.state.storage();
        let current = storage.get_alarm().await.map_err(platform("get_alarm"))?;
        if current.is_none_or(|current| current as f64 > at) {
            storage.set_alarm(at as i64).await.map_err(platform("set_alarm"))?;
        }
        Ok(())
    }

    fn log_failure(&self, task: &str, error: &MeshError) {
        let event = LogEvent::new(Level::Error, "task_error", format!("task {task}: {error}"));
        log::emit(&event.shard(self.shard.get()));
    }
}
