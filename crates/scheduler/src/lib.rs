//! The scheduler: watches unbound pods, filters and scores nodes, and binds through
//! `pods/binding`. It is an API client like any other and never touches the store.
