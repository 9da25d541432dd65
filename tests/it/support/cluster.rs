//! A private RabbitMQ cluster on 127.0.0.1: [`PrivateNode`]s with one
//! Erlang cookie, booted together, the others joined to the first
//! (`rabbitmqctl stop_app`, `join_cluster`, `start_app`). Each node is
//! ended by its own pid when the cluster is dropped.

use std::time::Duration;

use super::rabbit::PrivateNode;

/// Longest one `rabbitmqctl` call of the join may take.
const CTL: Duration = Duration::from_secs(60);

pub struct Cluster {
    pub nodes: Vec<PrivateNode>,
}

impl Cluster {
    /// Boots `n` nodes and joins them into one cluster.
    ///
    /// # Errors
    /// Why a node did not boot or join (with the tail of its output).
    pub async fn start(n: usize) -> Result<Cluster, String> {
        let cookie = format!("HGTESTCOOKIE{}", super::unique().replace('-', "X"));
        let booted =
            futures_util::future::join_all((0..n).map(|_| PrivateNode::start_with(Some(&cookie))))
                .await;
        // Nodes that booted are ended (by pid) when dropped on an error.
        let nodes = booted.into_iter().collect::<Result<Vec<_>, _>>()?;
        let first = nodes[0].name.clone();
        for node in &nodes[1..] {
            for args in [
                vec!["stop_app"],
                vec!["join_cluster", first.as_str()],
                vec!["start_app"],
            ] {
                node.ctl(&args, CTL)
                    .await
                    .map_err(|e| format!("{}: {e}\n{}", node.name, node.output_tail()))?;
            }
        }
        Ok(Cluster { nodes })
    }

    /// Every node's AMQP URL, in node order.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(PrivateNode::amqp_url).collect()
    }

    /// Index of the node (other than `skip`) that holds a client connection
    /// named `name` (the first in node order).
    pub async fn connected_node(&self, name: &str, skip: Option<usize>) -> Option<usize> {
        self.connections(name, skip)
            .await
            .into_iter()
            .map(|(node, _)| node)
            .filter(|&node| Some(node) != skip)
            .min()
    }

    /// Every client connection named `name`: the index of the node it is
    /// on and its client-side port, asked of the first node (other than
    /// `skip`, a stopped one) that answers (`rabbitmqctl list_connections
    /// port peer_port client_properties` lists the cluster's connections,
    /// each with the AMQP port it came in on).
    pub async fn connections(&self, name: &str, skip: Option<usize>) -> Vec<(usize, u16)> {
        let quoted = format!("\"{name}\"");
        for (i, node) in self.nodes.iter().enumerate() {
            if Some(i) == skip {
                continue;
            }
            let Ok(out) = node
                .ctl(
                    &["list_connections", "port", "peer_port", "client_properties"],
                    Duration::from_secs(15),
                )
                .await
            else {
                continue;
            };
            return out
                .lines()
                .filter(|l| l.contains(&quoted))
                .filter_map(|l| {
                    let mut fields = l.split_whitespace();
                    let port: u16 = fields.next()?.parse().ok()?;
                    let peer: u16 = fields.next()?.parse().ok()?;
                    let node = self.nodes.iter().position(|n| n.port == port)?;
                    Some((node, peer))
                })
                .collect();
        }
        Vec::new()
    }

    /// Stops every node still running (gracefully, SIGKILL past a deadline).
    pub async fn stop(mut self) {
        for node in &mut self.nodes {
            let _ = node.stop().await;
        }
    }
}
