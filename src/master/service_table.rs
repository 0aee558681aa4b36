//! The master's services, each under a stable id (no Postfix counterpart:
//! Postfix links MASTER_SERV structures and hands out their addresses).
//! An id is what event tokens carry, so a reload that adds and removes
//! services never renumbers the others; a removed service's slot is
//! reused only by a later one.  Iteration follows master.cf's order.

use std::ops::{Index, IndexMut};

use super::service::Service;

/// A service's place in the table, stable while the service exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServiceId(pub usize);

/// The services, by id, in master.cf's order.
#[derive(Default)]
pub struct Services {
    slots: Vec<Option<Service>>,
    free: Vec<usize>,
    order: Vec<ServiceId>,
}

impl Services {
    /// Adds a service after the others; its id.
    pub fn insert(&mut self, s: Service) -> ServiceId {
        let id = match self.free.pop() {
            Some(n) => {
                self.slots[n] = Some(s);
                ServiceId(n)
            }
            None => {
                self.slots.push(Some(s));
                ServiceId(self.slots.len() - 1)
            }
        };
        self.order.push(id);
        id
    }

    /// Takes a service out; its id may be given to a later one.
    pub fn remove(&mut self, id: ServiceId) -> Option<Service> {
        let s = self.slots.get_mut(id.0)?.take()?;
        self.free.push(id.0);
        self.order.retain(|o| *o != id);
        Some(s)
    }

    /// The service `id` names, if it still exists.
    pub fn get(&self, id: ServiceId) -> Option<&Service> {
        self.slots.get(id.0)?.as_ref()
    }

    /// The same, to change.
    pub fn get_mut(&mut self, id: ServiceId) -> Option<&mut Service> {
        self.slots.get_mut(id.0)?.as_mut()
    }

    /// How many services there are.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// The ids, in order.
    pub fn ids(&self) -> Vec<ServiceId> {
        self.order.clone()
    }

    /// The services, in order.
    pub fn iter(&self) -> impl Iterator<Item = &Service> {
        self.order.iter().filter_map(|id| self.get(*id))
    }

    /// The services with their ids, in order.
    pub fn iter_ids(&self) -> impl Iterator<Item = (ServiceId, &Service)> {
        self.order
            .iter()
            .filter_map(|id| self.get(*id).map(|s| (*id, s)))
    }

    /// The services, in no particular order, to change.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Service> {
        self.slots.iter_mut().flatten()
    }

    /// The service whose endpoint is `name` of type `kind`.
    pub fn find(&self, kind: super::master_ent::ServType, name: &str) -> Option<ServiceId> {
        self.iter_ids()
            .find(|(_, s)| s.ent.kind == kind && s.ent.name == name)
            .map(|(id, _)| id)
    }

    /// Puts the services in this order (master.cf's, after a reload); ids
    /// not named keep their place at the end.
    pub fn reorder(&mut self, first: &[ServiceId]) {
        let mut order: Vec<ServiceId> = first
            .iter()
            .copied()
            .filter(|id| self.get(*id).is_some())
            .collect();
        for id in &self.order {
            if !order.contains(id) {
                order.push(*id);
            }
        }
        self.order = order;
    }
}

impl Index<ServiceId> for Services {
    type Output = Service;
    fn index(&self, id: ServiceId) -> &Service {
        self.get(id).expect("a live service id")
    }
}

impl IndexMut<ServiceId> for Services {
    fn index_mut(&mut self, id: ServiceId) -> &mut Service {
        self.get_mut(id).expect("a live service id")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::master::master_ent::{EntContext, parse_master_cf};

    fn service(name: &str) -> Service {
        let ctx = EntContext {
            daemon_directory: "/x".into(),
            default_process_limit: 100,
            compat_ge_1: true,
            foreground: false,
            verbose: false,
            master_service_disable: String::new(),
        };
        let line = format!("{name} unix-dgram n - n - 1 cmd\n");
        let ent = parse_master_cf("master.cf", &line, &ctx, &mut |_| {})
            .unwrap()
            .remove(0);
        Service::with_endpoint(ent, Vec::new())
    }

    #[test]
    fn ids_stay_while_others_come_and_go() {
        let mut t = Services::default();
        let a = t.insert(service("a"));
        let b = t.insert(service("b"));
        let c = t.insert(service("c"));
        assert!(t.remove(b).is_some());
        assert!(t.get(b).is_none() && t.remove(b).is_none());
        assert_eq!(t[a].ent.ext_name, "a");
        assert_eq!(t[c].ent.ext_name, "c");
        let d = t.insert(service("d"));
        assert_eq!(d, b, "a freed slot is reused by a later service");
        t.reorder(&[d, a]);
        let names: Vec<&str> = t.iter().map(|s| s.ent.ext_name.as_str()).collect();
        assert_eq!(names, ["d", "a", "c"]);
        assert_eq!(
            t.find(crate::master::master_ent::ServType::UnixDgram, "public/c"),
            Some(c)
        );
        assert_eq!(t.len(), 3);
    }
}
