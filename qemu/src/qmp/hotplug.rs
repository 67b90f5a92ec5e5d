//! QMP commands that add and remove devices of a running VM, and the
//! queries that say what is there. Arguments come from
//! [`crate::hotplug`], which also builds the command line.

use super::QmpCommands;
use super::error::QmpError;
use serde_json::{Value, json};

impl QmpCommands {
    /// Opens a block node graph (`blockdev-add`).
    pub async fn blockdev_add(&self, arguments: Value) -> Result<(), QmpError> {
        self.execute_value("blockdev-add", arguments)
            .await
            .map(drop)
    }

    /// Closes a node added by `blockdev-add` (and its inline children),
    /// which releases the image file.
    pub async fn blockdev_del(&self, node_name: &str) -> Result<(), QmpError> {
        self.execute_value("blockdev-del", json!({ "node-name": node_name }))
            .await
            .map(drop)
    }

    pub async fn device_add(&self, arguments: Value) -> Result<(), QmpError> {
        self.execute_value("device_add", arguments).await.map(drop)
    }

    /// Asks for an unplug; the device is gone only at its `DEVICE_DELETED`
    /// event, once the guest has let go of it.
    pub async fn device_del(&self, id: &str) -> Result<(), QmpError> {
        self.execute_value("device_del", json!({ "id": id }))
            .await
            .map(drop)
    }

    pub async fn netdev_add(&self, arguments: Value) -> Result<(), QmpError> {
        self.execute_value("netdev_add", arguments).await.map(drop)
    }

    pub async fn netdev_del(&self, id: &str) -> Result<(), QmpError> {
        self.execute_value("netdev_del", json!({ "id": id }))
            .await
            .map(drop)
    }

    /// The PCI tree as QEMU reports it (`query-pci`), bridges included.
    pub async fn query_pci(&self) -> Result<Value, QmpError> {
        self.execute_value("query-pci", json!({})).await
    }

    /// The ids of every device that has one (`/machine/peripheral`).
    pub async fn device_ids(&self) -> Result<Vec<String>, QmpError> {
        let children = self
            .execute_value("qom-list", json!({ "path": "/machine/peripheral" }))
            .await?;
        Ok(children
            .as_array()
            .into_iter()
            .flatten()
            .filter(|child| {
                child
                    .get("type")
                    .and_then(Value::as_str)
                    .is_some_and(|kind| kind.starts_with("child<"))
            })
            .filter_map(|child| child.get("name").and_then(Value::as_str))
            .map(str::to_owned)
            .collect())
    }

    /// The names of the block nodes that have one.
    pub async fn node_names(&self) -> Result<Vec<String>, QmpError> {
        let nodes = self
            .execute_value("query-named-block-nodes", json!({ "flat": true }))
            .await?;
        Ok(nodes
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|node| node.get("node-name").and_then(Value::as_str))
            .map(str::to_owned)
            .collect())
    }
}
