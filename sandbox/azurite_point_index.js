// A point index for Azurite's tables: bench runs at large N only (`Azurite(point_index=True)`,
// `python -m bench.full_sync --azurite-point-index`), never the tests' or the demo's Azurite.
//
// Loaded into the Azurite process with NODE_OPTIONS=--require. Azurite 3.35 keeps each table in a
// LokiJS collection indexed by PartitionKey and by RowKey, and answers every point operation
// (read, insert, update, merge, delete, each operation of a transaction) with
// `collection.findOne({PartitionKey, RowKey})`. LokiJS uses the PartitionKey index, then scans
// every row of that partition for the RowKey: a point operation costs O(rows in the partition),
// so a run that fills one partition costs O(N^2) (bench/azurite_point_ops.py measures it). Azure
// Table Storage serves a point operation from its (PartitionKey, RowKey) index. This preload gives
// findOne the same: a Map from (PartitionKey, RowKey) to the row's LokiJS id, kept up to date on
// insert, update and remove, each hit checked against the stored row (a stale entry falls back to
// LokiJS's own findOne, so answers never change, only their cost). Nothing else in Azurite changes.
"use strict";

const path = require("path");

const azuriteDir = path.join(__dirname, "..", "node_modules", "azurite");
const Loki = require(require.resolve("lokijs", { paths: [azuriteDir] }));
const proto = Loki.Collection.prototype;
const SEP = "\u0000";

function keyOf(doc) {
  if (doc && typeof doc.PartitionKey === "string" && typeof doc.RowKey === "string") {
    return doc.PartitionKey + SEP + doc.RowKey;
  }
  return undefined;
}

function indexed(collection) {
  const bi = collection.binaryIndices;
  return Boolean(bi && bi.PartitionKey && bi.RowKey) && !collection.cloneObjects;
}

function pointIndex(collection) {
  if (!collection.__bcsyncPointIndex) {
    const index = new Map();
    for (const doc of collection.data) {
      const key = keyOf(doc);
      if (key !== undefined) index.set(key, doc.$loki);
    }
    collection.__bcsyncPointIndex = index;
  }
  return collection.__bcsyncPointIndex;
}

function remember(collection, doc) {
  const key = keyOf(doc);
  if (key !== undefined && doc.$loki !== undefined) pointIndex(collection).set(key, doc.$loki);
}

function forget(collection, doc) {
  const key = keyOf(doc);
  const index = pointIndex(collection);
  if (key !== undefined && index.get(key) === doc.$loki) index.delete(key);
}

function pointQuery(query) {
  if (!query || typeof query !== "object") return undefined;
  const names = Object.keys(query);
  if (names.length !== 2 || !("PartitionKey" in query) || !("RowKey" in query)) return undefined;
  return keyOf(query);
}

const insertOne = proto.insertOne;
proto.insertOne = function (doc, bulkInsert) {
  const stored = insertOne.call(this, doc, bulkInsert);
  if (stored && indexed(this)) remember(this, stored);
  return stored;
};

const update = proto.update;
proto.update = function (doc) {
  const result = update.call(this, doc);
  if (!Array.isArray(doc) && indexed(this)) remember(this, doc);
  return result;
};

const remove = proto.remove;
proto.remove = function (doc) {
  if (indexed(this)) {
    const docs = Array.isArray(doc) ? doc : [typeof doc === "number" ? this.get(doc) : doc];
    for (const one of docs) if (one && typeof one === "object") forget(this, one);
  }
  return remove.call(this, doc);
};

const clear = proto.clear;
proto.clear = function (options) {
  delete this.__bcsyncPointIndex;
  return clear.call(this, options);
};

const findOne = proto.findOne;
proto.findOne = function (query) {
  const key = indexed(this) ? pointQuery(query) : undefined;
  if (key === undefined) return findOne.call(this, query);
  const id = pointIndex(this).get(key);
  if (id === undefined) return null;
  const doc = this.get(id);
  if (doc && keyOf(doc) === key) return doc;
  return findOne.call(this, query); // a stale entry: ask LokiJS itself
};

process.stderr.write("bcsync: Azurite point index loaded\n");
