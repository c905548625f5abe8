// Group membership, computed in one place (src/config/membership.ts), on the tricky cases.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { membershipOf } from "../../src/config/membership.js";

const groups = new Map([
  ["auto1", { permit_target_auto_register: true }],
  ["closed", { permit_target_auto_register: false }],
  ["auto2", { permit_target_auto_register: true }],
]);
const of = (auto: boolean, register_to: string[] = [], exclude_from: string[] = []) =>
  membershipOf({ auto_register_to_groups: auto, register_to, exclude_from }, groups);

describe("group membership", () => {
  test("auto-registration joins every permitting group, in config order", () => {
    assert.deepEqual(of(true), { groups: ["auto1", "auto2"], problems: [] });
  });
  test("register_to reaches a group that refuses auto-registration", () => {
    assert.deepEqual(of(true, ["closed"]).groups, ["auto1", "closed", "auto2"]);
  });
  test("without auto-registration only register_to counts", () => {
    assert.deepEqual(of(false, ["auto2"]).groups, ["auto2"]);
  });
  test("exclude_from wins over auto-registration and over register_to", () => {
    assert.deepEqual(of(true, ["closed"], ["closed", "auto1"]).groups, ["auto2"]);
  });
  test("registering twice counts once", () => {
    assert.deepEqual(of(true, ["auto1", "auto1"]).groups, ["auto1", "auto2"]);
  });
  test("unknown names are reported with their list and index, and ignored", () => {
    const m = of(false, ["auto1", "ghost"], ["nope"]);
    assert.deepEqual(m.groups, ["auto1"]);
    assert.deepEqual(m.problems, [
      { kind: "unknown-group", list: "register_to", index: 1, group: "ghost" },
      { kind: "unknown-group", list: "exclude_from", index: 0, group: "nope" },
    ]);
  });
  test("a target left in no group is reported", () => {
    assert.deepEqual(of(false).problems, [{ kind: "no-group" }]);
    assert.deepEqual(of(true, [], ["auto1", "auto2"]).problems, [{ kind: "no-group" }]);
  });
  test("no groups at all", () => {
    const m = membershipOf({ auto_register_to_groups: true, register_to: [], exclude_from: [] }, new Map());
    assert.deepEqual(m, { groups: [], problems: [{ kind: "no-group" }] });
  });
});
