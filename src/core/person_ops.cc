// Person property operations (see person_ops.h): fields checked and rendered like a
// collection's (core/types.h), plus the per-operation rules on column types.
#include "core/person_ops.h"

#include <optional>
#include <unordered_set>

#include "core/names.h"
#include "core/render.h"
#include "core/types.h"

namespace pulse {

bool parse_person_op(std::string_view key, PersonOp* op) {
  if (key == "$set")
    *op = PersonOp::kSet;
  else if (key == "$set_once")
    *op = PersonOp::kSetOnce;
  else if (key == "$increment")
    *op = PersonOp::kIncrement;
  else if (key == "$append")
    *op = PersonOp::kAppend;
  else if (key == "$remove")
    *op = PersonOp::kRemove;
  else
    return false;
  return true;
}

const char* person_op_name(PersonOp op) {
  switch (op) {
    case PersonOp::kSet:
      return "$set";
    case PersonOp::kSetOnce:
      return "$set_once";
    case PersonOp::kIncrement:
      return "$increment";
    case PersonOp::kAppend:
      return "$append";
    case PersonOp::kRemove:
      return "$remove";
  }
  return "?";
}

namespace {

bool numeric_class(TypeClass c) {
  return c == TypeClass::kDouble || c == TypeClass::kReal || c == TypeClass::kNumeric || c == TypeClass::kInt2 ||
         c == TypeClass::kInt4 || c == TypeClass::kInt8;
}

}  // namespace

std::vector<Column> plan_person_columns(const EventBatch& batch, const std::vector<PersonOp>& ops,
                                        const TableShape& shape, size_t max_fields) {
  std::vector<Column> add;
  std::unordered_set<std::string_view> typed;
  size_t room = max_fields > shape.user_columns() ? max_fields - shape.user_columns() : 0;
  for (size_t e = 0; e < batch.events.size() && e < ops.size(); e++) {
    const Event& ev = batch.events[e];
    for (const Field& f : ev.fields) {
      if (classify_field_name(f.name) != FieldNameClass::kUser || shape.find(f.name) || typed.count(f.name)) continue;
      const Value& v = ev.values[f.value];
      if (ops[e] == PersonOp::kIncrement && v.kind != Kind::kInt && v.kind != Kind::kDouble) continue;
      std::optional<ColumnType> t = infer_type(ev, v);
      if (!t) continue;  // null: no column yet
      typed.insert(f.name);
      if (add.size() < room) add.push_back(Column{std::string(f.name), std::move(*t)});
    }
  }
  return add;
}

void plan_person_update(const EventBatch& batch, const std::vector<PersonOp>& ops, const TableShape& shape,
                        size_t max_fields, PersonPlan* out) {
  std::unordered_set<std::string> named;
  std::string text;
  for (size_t e = 0; e < batch.events.size() && e < ops.size(); e++) {
    const Event& ev = batch.events[e];
    PersonOp op = ops[e];
    for (const Field& f : ev.fields) {
      const Value& v = ev.values[f.value];
      auto reject = [&](std::string expected, std::string reason) {
        RejectedField r;
        r.event = uint32_t(e);
        r.field = std::string(f.name);
        r.raw_name = std::string(f.raw_name);
        r.raw_value = value_json(ev, v);
        r.expected_type = std::move(expected);
        r.reason = std::string(person_op_name(op)) + ": " + reason;
        out->rejected.push_back(std::move(r));
      };
      if (classify_field_name(f.name) != FieldNameClass::kUser) {
        reject("", f.name.empty() ? "field name is empty after normalisation"
                                  : "person property names starting with \"_\" are reserved");
        continue;
      }
      const Column* col = shape.find(f.name);
      if (op == PersonOp::kIncrement && v.kind != Kind::kInt && v.kind != Kind::kDouble && v.kind != Kind::kNull) {
        reject(col ? col->type.pg_name : "", "the increment must be a number");
        continue;
      }
      if (!col) {
        if (v.kind != Kind::kNull)
          reject("", "persons table has no column for this property: limit pulse.max_fields_per_collection (" +
                         std::to_string(max_fields) + ") reached");
        continue;
      }
      const ColumnType& t = col->type;
      if (named.count(col->name)) {
        reject(t.pg_name, "the property is named by an earlier operation or field of this call");
        continue;
      }
      if (op == PersonOp::kIncrement && (t.is_array || !numeric_class(t.cls))) {
        reject(t.pg_name, "only numeric properties can be incremented");
        continue;
      }
      if ((op == PersonOp::kAppend || op == PersonOp::kRemove) && !t.is_array) {
        reject(t.pg_name, "only array properties take $append and $remove");
        continue;
      }
      named.insert(col->name);
      PersonAssignment a;
      a.column = col->name;
      a.op = op;
      a.pg_type = t.pg_name;
      if (v.kind == Kind::kNull) {
        a.is_null = true;
        if (op != PersonOp::kSet) continue;  // nothing to add, count or remove
        out->assignments.push_back(std::move(a));
        continue;
      }
      text.clear();
      std::string why = append_copy_value(&text, ev, v, t);
      if (!why.empty()) {
        named.erase(col->name);
        reject(t.pg_name, why);
        continue;
      }
      if (text == "\\N") {
        a.is_null = true;
        if (op != PersonOp::kSet) continue;
      } else {
        a.value = copy_unescape(text);
      }
      out->assignments.push_back(std::move(a));
    }
  }
}

}  // namespace pulse
