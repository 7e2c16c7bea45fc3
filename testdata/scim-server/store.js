// The in-memory store behind SCIMMY's ingress/egress/degress handlers.
//
// Behaviour a SCIM client can rely on from this peer, as from most real
// service providers:
//   - ids are random UUIDs; list order is creation order, so paging is stable;
//   - userName is unique case-insensitively (409, scimType "uniqueness");
//   - externalId is stored on Users and Groups;
//   - PUT replaces the resource (id and meta.created are kept);
//   - group members must name existing Users or Groups (400 invalidValue);
//   - deleting a User removes it from every group.

import {randomUUID} from "node:crypto";
import SCIMMY from "scimmy";
import {matchFilter} from "./filter.js";

const clone = (v) => JSON.parse(JSON.stringify(v));

export class Store {
    constructor() {
        this.users = new Map();
        this.groups = new Map();
        this.version = 0;
    }

    // meta stamps a stored record: created once, lastModified and a weak
    // version on every write.
    meta(resourceType, previous) {
        const now = new Date().toISOString();
        this.version++;
        return {resourceType, created: previous?.created ?? now, lastModified: now, version: `W/"${this.version}"`};
    }

    // list returns the records of map that match the request's filter.
    list(map, resource, ctx, definition) {
        let records = [...map.values()];
        if (ctx?.filter) records = records.filter(r => matchFilter(ctx.filter, r, definition));
        else if (resource.filter) records = resource.filter.match(records); // POST /.search
        return records.map(clone);
    }

    get(map, resource, name) {
        const record = map.get(resource.id);
        if (!record) throw new SCIMMY.Types.Error(404, null, `${name} ${resource.id} not found`);
        return clone(record);
    }

    // data turns a coerced SCIMMY instance into a plain record without the
    // server-managed attributes.
    data(instance) {
        const d = clone(instance);
        delete d.id;
        delete d.meta;
        return d;
    }

    userEgress = (resource, ctx) => resource.id
        ? this.get(this.users, resource, "User")
        : this.list(this.users, resource, ctx, SCIMMY.Resources.User.schema.definition);

    userIngress = (resource, instance) => {
        const d = this.data(instance);
        const previous = resource.id ? this.users.get(resource.id) : undefined;
        if (resource.id && !previous) throw new SCIMMY.Types.Error(404, null, `User ${resource.id} not found`);
        const name = String(d.userName ?? "").toLowerCase();
        for (const [id, u] of this.users) {
            if (id !== resource.id && String(u.userName).toLowerCase() === name) {
                throw new SCIMMY.Types.Error(409, "uniqueness", `userName ${JSON.stringify(d.userName)} is already in use`);
            }
        }
        const id = resource.id ?? randomUUID();
        const record = {...d, id, meta: this.meta("User", previous?.meta)};
        this.users.set(id, record);
        return clone(record);
    };

    userDegress = (resource) => {
        if (!this.users.delete(resource.id)) throw new SCIMMY.Types.Error(404, null, `User ${resource.id} not found`);
        if (this.keepMembersOfDeleted?.()) return;
        for (const [gid, g] of this.groups) {
            const members = (g.members ?? []).filter(m => m.value !== resource.id);
            if (members.length !== (g.members ?? []).length) {
                this.groups.set(gid, {...g, members, meta: this.meta("Group", g.meta)});
            }
        }
    };

    groupEgress = (resource, ctx) => resource.id
        ? this.get(this.groups, resource, "Group")
        : this.list(this.groups, resource, ctx, SCIMMY.Resources.Group.schema.definition);

    groupIngress = (resource, instance) => {
        const d = this.data(instance);
        const previous = resource.id ? this.groups.get(resource.id) : undefined;
        if (resource.id && !previous) throw new SCIMMY.Types.Error(404, null, `Group ${resource.id} not found`);
        const id = resource.id ?? randomUUID();
        const seen = new Set();
        const members = [];
        for (const m of d.members ?? []) {
            if (seen.has(m.value)) continue;
            seen.add(m.value);
            const user = this.users.get(m.value);
            const group = this.groups.get(m.value);
            if (!user && !group) {
                throw new SCIMMY.Types.Error(400, "invalidValue", `member ${JSON.stringify(m.value)} is not a User or Group of this service provider`);
            }
            members.push({
                value: m.value,
                display: user ? (user.displayName ?? user.userName) : group.displayName,
                type: user ? "User" : "Group",
            });
        }
        const record = {...d, id, members, meta: this.meta("Group", previous?.meta)};
        this.groups.set(id, record);
        return clone(record);
    };

    groupDegress = (resource) => {
        if (!this.groups.delete(resource.id)) throw new SCIMMY.Types.Error(404, null, `Group ${resource.id} not found`);
    };
}
