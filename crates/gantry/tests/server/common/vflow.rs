//! Helpers for the vflow workflow tests: users, steps, workflows, runs.

use super::TestApp;
use serde_json::{Value, json};

/// A step in the API's shape.
pub fn step(id: &str, module: &str, indent: u32, params: Value) -> Value {
    json!({"id": id, "moduleId": module, "indentationLevel": indent, "parameters": params})
}

impl TestApp {
    /// An admin token and a fresh non-admin user's token.
    pub async fn admin_and_user(&self, username: &str) -> (String, String) {
        let admin = self.admin_token().await;
        self.create_user(&admin, username, "user-password-1").await;
        let (user, _) = self.star_login(username, "user-password-1").await;
        (admin, user)
    }

    /// Creates an enabled workflow; returns its id.
    pub async fn workflow(&self, token: &str, name: &str, steps: Value) -> String {
        let body = json!({"name": name, "steps": steps, "isEnabled": true});
        let (status, body) = self.call("POST", "/api/v1/workflows", Some(token), Some(body)).await;
        assert_eq!(status, 201, "{body}");
        body["data"]["id"].as_str().unwrap().to_owned()
    }

    /// Runs a workflow synchronously; returns the answer's data.
    pub async fn run_sync(&self, token: &str, id: &str, vars: Value) -> Value {
        let body = json!({"async": false, "inputVariables": vars});
        let (status, body) =
            self.call("POST", &format!("/api/v1/workflows/{id}/execute"), Some(token), Some(body)).await;
        assert_eq!(status, 200, "{body}");
        body["data"].clone()
    }

    /// Starts a workflow asynchronously; returns the execution id.
    pub async fn run_async(&self, token: &str, id: &str) -> String {
        let (status, body) =
            self.call("POST", &format!("/api/v1/workflows/{id}/execute"), Some(token), Some(json!({}))).await;
        assert_eq!(status, 202, "{body}");
        body["data"]["executionId"].as_str().unwrap().to_owned()
    }

    /// Waits until an execution has ended; returns it.
    pub async fn ended(&self, token: &str, id: &str) -> Value {
        super::eventually(60, &format!("execution {id} to end"), || async {
            let (_, body) = self.call("GET", &format!("/api/v1/executions/{id}"), Some(token), None).await;
            (body["data"]["status"] != "running").then(|| body["data"].clone())
        })
        .await
    }
}
