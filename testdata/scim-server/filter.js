// SCIM filter expressions (RFC 7644 §3.4.2.2), parsed and evaluated here
// rather than by SCIMMY.
//
// SCIMMY 1.3's filter has three gaps that matter to a SCIM client: its
// tokenizer rejects an escaped quote ('userName eq "O\"Brien"' is an
// "Unexpected token"), it keeps backslash escapes verbatim instead of
// decoding the JSON string, and "eq" compares case-sensitively even for
// attributes whose schema says caseExact: false (userName, emails.value).
// Real service providers get all three right, so this peer does too: the
// server takes "filter" out of the query before SCIMMY sees it and filters
// the store with this module.

import SCIMMY from "scimmy";

const comparators = new Set(["eq", "ne", "co", "sw", "ew", "gt", "lt", "ge", "le"]);

// invalidFilter is the SCIM error for a filter that does not parse.
function invalidFilter(detail) {
    return new SCIMMY.Types.Error(400, "invalidFilter", detail);
}

// tokenize splits an expression into punctuation, JSON values and words.
function tokenize(input) {
    const tokens = [];
    const re = /\s+|([()[\]])|("(?:[^"\\]|\\.)*")|(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)(?![\w.:])|([A-Za-z_$][\w$.:\-]*)/y;
    let pos = 0;
    while (pos < input.length) {
        re.lastIndex = pos;
        const m = re.exec(input);
        if (!m) throw invalidFilter(`Unexpected character at offset ${pos} in filter`);
        pos = re.lastIndex;
        if (m[1]) tokens.push({kind: "punct", value: m[1]});
        else if (m[2]) {
            let value;
            try {
                value = JSON.parse(m[2]);
            } catch {
                throw invalidFilter(`Invalid string ${m[2]} in filter`);
            }
            tokens.push({kind: "value", value});
        } else if (m[3]) tokens.push({kind: "value", value: Number(m[3])});
        else if (m[4]) {
            const lower = m[4].toLowerCase();
            if (lower === "true" || lower === "false") tokens.push({kind: "value", value: lower === "true"});
            else if (lower === "null") tokens.push({kind: "value", value: null});
            else tokens.push({kind: "word", value: m[4]});
        }
    }
    return tokens;
}

// Parser is a recursive-descent parser over the tokens:
//   or  := and ("or" and)*
//   and := not ("and" not)*
//   not := "not" "(" or ")" | atom
//   atom := "(" or ")" | path "[" or "]" | path "pr" | path op value
class Parser {
    constructor(tokens) {
        this.tokens = tokens;
        this.pos = 0;
    }

    peek() {
        return this.tokens[this.pos];
    }

    next() {
        const t = this.tokens[this.pos++];
        if (!t) throw invalidFilter("Unexpected end of filter");
        return t;
    }

    isWord(word) {
        const t = this.peek();
        return t?.kind === "word" && t.value.toLowerCase() === word;
    }

    expect(punct) {
        const t = this.next();
        if (t.kind !== "punct" || t.value !== punct) throw invalidFilter(`Expected '${punct}' in filter`);
    }

    parseOr() {
        let left = this.parseAnd();
        while (this.isWord("or")) {
            this.pos++;
            left = {type: "or", left, right: this.parseAnd()};
        }
        return left;
    }

    parseAnd() {
        let left = this.parseNot();
        while (this.isWord("and")) {
            this.pos++;
            left = {type: "and", left, right: this.parseNot()};
        }
        return left;
    }

    parseNot() {
        if (this.isWord("not")) {
            this.pos++;
            this.expect("(");
            const expr = this.parseOr();
            this.expect(")");
            return {type: "not", expr};
        }
        return this.parseAtom();
    }

    parseAtom() {
        const t = this.next();
        if (t.kind === "punct" && t.value === "(") {
            const expr = this.parseOr();
            this.expect(")");
            return expr;
        }
        if (t.kind !== "word") throw invalidFilter("Expected an attribute path in filter");
        const path = t.value;
        const after = this.peek();
        if (after?.kind === "punct" && after.value === "[") {
            this.pos++;
            const expr = this.parseOr();
            this.expect("]");
            return {type: "valuePath", path, expr};
        }
        const op = this.next();
        const opName = op.kind === "word" ? op.value.toLowerCase() : "";
        if (opName === "pr") return {type: "pr", path};
        if (!comparators.has(opName)) throw invalidFilter(`Unknown operator '${op.value}' in filter`);
        const value = this.next();
        if (value.kind !== "value") throw invalidFilter(`Expected a value after '${op.value}' in filter`);
        return {type: "cmp", path, op: opName, value: value.value};
    }
}

// parseFilter turns an expression into a tree for matchFilter.
export function parseFilter(expression) {
    if (typeof expression !== "string" || !expression.trim()) throw invalidFilter("Expected filter to be a non-empty string");
    const parser = new Parser(tokenize(expression));
    const tree = parser.parseOr();
    if (parser.pos !== parser.tokens.length) throw invalidFilter("Unexpected trailing tokens in filter");
    return tree;
}

// attributeInfo looks a path up in the schema: its type and caseExact.
// Unknown attributes are reported as null and never match.
function attributeInfo(definition, path) {
    try {
        const attr = definition.attribute(path);
        return {type: String(attr.type), caseExact: attr.config?.caseExact === true};
    } catch {
        return null;
    }
}

// splitPath separates a schema URN prefix from the attribute path: with
// "urn:…:enterprise:2.0:User:employeeNumber" it returns the extension
// object's key and "employeeNumber".
function splitPath(record, path) {
    if (!path.toLowerCase().startsWith("urn:")) return {key: null, rest: path};
    const lower = path.toLowerCase();
    for (const key of Object.keys(record)) {
        if (key.toLowerCase().startsWith("urn:") && lower.startsWith(key.toLowerCase() + ":")) {
            return {key, rest: path.slice(key.length + 1)};
        }
    }
    // The core schema URN prefixes core attributes.
    const colon = path.lastIndexOf(":");
    return {key: null, rest: path.slice(colon + 1)};
}

// getCI reads a property by name, case-insensitively (RFC 7643 §2.1).
function getCI(obj, name) {
    if (obj === null || typeof obj !== "object") return undefined;
    if (name in obj) return obj[name];
    const lower = name.toLowerCase();
    const key = Object.keys(obj).find(k => k.toLowerCase() === lower);
    return key === undefined ? undefined : obj[key];
}

// resolve returns every value at path in record, flattening multi-valued
// attributes; a multi-valued complex attribute on its own stands for its
// "value" sub-attribute.
function resolve(record, path) {
    const {key, rest} = splitPath(record, path);
    let values = [key ? record[key] : record];
    for (const part of rest.split(".")) {
        values = values.flatMap(v => {
            const got = getCI(v, part);
            return Array.isArray(got) ? got : [got];
        }).filter(v => v !== undefined && v !== null);
    }
    return values.flatMap(v => (v !== null && typeof v === "object" && !Array.isArray(v) && "value" in v ? [v.value] : [v]));
}

function compare(actual, op, expected, info) {
    if (typeof actual === "string" && typeof expected === "string") {
        if (info.type === "dateTime" && ["gt", "lt", "ge", "le", "eq", "ne"].includes(op)) {
            actual = Date.parse(actual);
            expected = Date.parse(expected);
        } else if (!info.caseExact) {
            actual = actual.toLowerCase();
            expected = expected.toLowerCase();
        }
    }
    switch (op) {
        case "eq": return actual === expected;
        case "ne": return actual !== expected;
        case "co": return typeof actual === "string" && actual.includes(expected);
        case "sw": return typeof actual === "string" && actual.startsWith(expected);
        case "ew": return typeof actual === "string" && actual.endsWith(expected);
        case "gt": return typeof actual === typeof expected && actual > expected;
        case "lt": return typeof actual === typeof expected && actual < expected;
        case "ge": return typeof actual === typeof expected && actual >= expected;
        case "le": return typeof actual === typeof expected && actual <= expected;
        default: return false;
    }
}

// matchFilter reports whether record matches tree. prefix is the parent
// attribute inside a value path ("emails" in emails[type eq "work"]).
export function matchFilter(tree, record, definition, prefix = "") {
    switch (tree.type) {
        case "or": return matchFilter(tree.left, record, definition, prefix) || matchFilter(tree.right, record, definition, prefix);
        case "and": return matchFilter(tree.left, record, definition, prefix) && matchFilter(tree.right, record, definition, prefix);
        case "not": return !matchFilter(tree.expr, record, definition, prefix);
        case "valuePath": {
            const items = getCI(record, tree.path);
            const list = Array.isArray(items) ? items : (items ? [items] : []);
            const full = prefix + tree.path;
            return list.some(item => matchFilter(tree.expr, item, definition, full + "."));
        }
        case "pr": {
            const values = resolve(record, tree.path);
            return values.some(v => v !== "" && !(Array.isArray(v) && v.length === 0));
        }
        case "cmp": {
            const info = attributeInfo(definition, prefix + tree.path);
            if (!info) return false;
            const values = resolve(record, tree.path);
            if (tree.op === "ne") return values.length === 0 || values.every(v => compare(v, "ne", tree.value, info));
            return values.some(v => compare(v, tree.op, tree.value, info));
        }
        default: return false;
    }
}
