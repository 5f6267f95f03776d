//! The items of one kind in a plan, by id, shared between versions.
//!
//! A change makes a new [`Plan`](crate::Plan) from the previous one. Each item sits behind an
//! [`Arc`], so copying a plan costs one pointer per item, and a change copies only the items it
//! writes to: reading through [`ItemMut`] never copies, the first write through it does. Two
//! versions of a plan therefore share every item that did not change between them.
//!
//! The map of a kind is shared too, so copying a plan (to show it, or before a change) costs one
//! pointer per kind; a change copies the map of each kind it writes to, once.

use std::collections::BTreeMap;
use std::collections::btree_map;
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

use crate::values::ItemId;

/// The items of one kind, ordered by id.
#[derive(PartialEq, Eq)]
pub struct Items<T>(Arc<BTreeMap<ItemId, Arc<T>>>);

impl<T> Clone for Items<T> {
    fn clone(&self) -> Self {
        Items(Arc::clone(&self.0))
    }
}

impl<T> Default for Items<T> {
    fn default() -> Self {
        Items(Arc::default())
    }
}

impl<T: fmt::Debug> fmt::Debug for Items<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<T: Serialize> Serialize for Items<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (id, item) in self.iter() {
            map.serialize_entry(id, item)?;
        }
        map.end()
    }
}

impl<T> Items<T> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn get(&self, id: &ItemId) -> Option<&T> {
        self.0.get(id).map(|item| &**item)
    }

    pub fn contains_key(&self, id: &ItemId) -> bool {
        self.0.contains_key(id)
    }

    pub fn keys(&self) -> btree_map::Keys<'_, ItemId, Arc<T>> {
        self.0.keys()
    }

    pub fn values(&self) -> impl DoubleEndedIterator<Item = &T> + ExactSizeIterator + Clone {
        self.0.values().map(|item| &**item)
    }

    pub fn iter(
        &self,
    ) -> impl DoubleEndedIterator<Item = (&ItemId, &T)> + ExactSizeIterator + Clone {
        self.0.iter().map(|(id, item)| (id, &**item))
    }

    /// The map, to change: copied (pointers only) if another plan shares it.
    fn map_mut(&mut self) -> &mut BTreeMap<ItemId, Arc<T>> {
        Arc::make_mut(&mut self.0)
    }

    /// Adds or replaces the item with this id.
    pub fn insert(&mut self, id: ItemId, item: T) {
        self.map_mut().insert(id, Arc::new(item));
    }

    /// Adds or replaces the item with this id, sharing it.
    pub fn insert_shared(&mut self, id: ItemId, item: Arc<T>) {
        self.map_mut().insert(id, item);
    }

    pub fn remove(&mut self, id: &ItemId) -> Option<Arc<T>> {
        if !self.0.contains_key(id) {
            return None;
        }
        self.map_mut().remove(id)
    }

    /// Keeps only the items for which `keep` is true.
    pub fn retain(&mut self, mut keep: impl FnMut(&ItemId, &T) -> bool) {
        if self.0.iter().all(|(id, item)| keep(id, item)) {
            return;
        }
        self.map_mut().retain(|id, item| keep(id, item));
    }
}

impl<T: Clone> Items<T> {
    /// The item with this id, to change: it is copied on the first write if another version
    /// shares it.
    pub fn get_mut(&mut self, id: &ItemId) -> Option<ItemMut<'_, T>> {
        if !self.0.contains_key(id) {
            return None;
        }
        self.map_mut().get_mut(id).map(|slot| ItemMut { slot })
    }

    /// Every item, to change some: only those written to are copied (and the map of pointers,
    /// once, if another plan shares it).
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&ItemId, ItemMut<'_, T>)> {
        self.map_mut()
            .iter_mut()
            .map(|(id, slot)| (id, ItemMut { slot }))
    }
}

impl<'a, T> IntoIterator for &'a Items<T> {
    type Item = (&'a ItemId, &'a T);
    type IntoIter = std::iter::Map<
        btree_map::Iter<'a, ItemId, Arc<T>>,
        fn((&'a ItemId, &'a Arc<T>)) -> (&'a ItemId, &'a T),
    >;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(id, item)| (id, &**item))
    }
}

impl<T> std::ops::Index<&ItemId> for Items<T> {
    type Output = T;

    /// The item with this id; panics if there is none, like a map's index.
    fn index(&self, id: &ItemId) -> &T {
        &self.0[id]
    }
}

impl<T> FromIterator<(ItemId, T)> for Items<T> {
    fn from_iter<I: IntoIterator<Item = (ItemId, T)>>(iter: I) -> Self {
        Items(Arc::new(
            iter.into_iter()
                .map(|(id, item)| (id, Arc::new(item)))
                .collect(),
        ))
    }
}

/// One item of a plan being changed: reads go to the shared item, the first write copies it.
pub struct ItemMut<'a, T> {
    slot: &'a mut Arc<T>,
}

impl<'a, T: Clone> ItemMut<'a, T> {
    /// The item to change, for as long as the borrow of the plan lasts (copied if shared).
    pub fn into_mut(this: ItemMut<'a, T>) -> &'a mut T {
        Arc::make_mut(this.slot)
    }
}

impl<T> Deref for ItemMut<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        self.slot
    }
}

impl<T: Clone> DerefMut for ItemMut<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        Arc::make_mut(self.slot)
    }
}

impl<T: fmt::Debug> fmt::Debug for ItemMut<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self.slot).fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> ItemId {
        ItemId::parse(s).unwrap()
    }

    #[test]
    fn a_copy_shares_the_map_until_it_changes() {
        let a: Items<String> = [(id("x"), "one".to_owned())].into_iter().collect();
        let mut b = a.clone();
        assert!(Arc::ptr_eq(&a.0, &b.0));
        // Nothing to remove, nothing to drop, nothing to change: still shared.
        assert!(b.remove(&id("absent")).is_none());
        b.retain(|_, _| true);
        assert!(b.get_mut(&id("absent")).is_none());
        assert!(Arc::ptr_eq(&a.0, &b.0));
        b.insert(id("y"), "two".to_owned());
        assert!(!Arc::ptr_eq(&a.0, &b.0));
        assert_eq!((a.len(), b.len()), (1, 2));
        assert!(Arc::ptr_eq(&a.0[&id("x")], &b.0[&id("x")]));
    }

    #[test]
    fn a_copy_shares_items_until_one_is_written() {
        let mut a: Items<String> = [(id("x"), "one".to_owned()), (id("y"), "two".to_owned())]
            .into_iter()
            .collect();
        let b = a.clone();
        // Reading through ItemMut copies nothing.
        for (_, item) in a.iter_mut() {
            assert!(!item.is_empty());
        }
        assert!(Arc::ptr_eq(&a.0[&id("x")], &b.0[&id("x")]));
        a.get_mut(&id("x")).unwrap().push_str(" changed");
        assert_eq!(a.get(&id("x")).map(String::as_str), Some("one changed"));
        assert_eq!(b.get(&id("x")).map(String::as_str), Some("one"));
        assert!(!Arc::ptr_eq(&a.0[&id("x")], &b.0[&id("x")]));
        assert!(Arc::ptr_eq(&a.0[&id("y")], &b.0[&id("y")]));
    }
}
