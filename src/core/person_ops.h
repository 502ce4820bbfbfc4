// Person property operations (pulse.person_update, identify traits, PostHog $set): the decoded
// objects of $set, $set_once, $increment, $append, $remove checked against the persons table's
// columns, with every value rendered as its column type's text input. Values that do not fit
// become rejected fields, exactly as for a collection (core/batch.h).
#pragma once
#include "core/no_postgres.h"

#include <string>
#include <vector>

#include "core/batch.h"

namespace pulse {

enum class PersonOp : uint8_t { kSet, kSetOnce, kIncrement, kAppend, kRemove };

// "$set" -> kSet ...; false for an unknown key.
bool parse_person_op(std::string_view key, PersonOp* op);
const char* person_op_name(PersonOp op);

struct PersonAssignment {
  std::string column;  // normalised field name (an existing column of the persons table)
  PersonOp op = PersonOp::kSet;
  bool is_null = false;  // a JSON null (kSet: the property becomes NULL; others: ignored)
  std::string value;     // the text input of the column's type (an array literal for arrays)
  std::string pg_type;   // the column's type as format_type prints it
};

struct PersonPlan {
  std::vector<PersonAssignment> assignments;  // in arrival order, one per column at most
  std::vector<RejectedField> rejected;
};

// The columns that the fields of ops' events need and the table lacks, like plan_new_columns
// (typed from the first informative value, at most max_fields user columns), except that a
// field whose operation would reject it gets no column: an $increment of a non-number.
// $append / $remove values are arrays (the pg layer wraps a scalar in a one-element array).
std::vector<Column> plan_person_columns(const EventBatch& batch, const std::vector<PersonOp>& ops,
                                        const TableShape& shape, size_t max_fields);

// batch.events[k] holds the object of ops[k]. A field is rejected when its name is reserved
// (starts with "_"), the table has no column for it (limit), its value does not fit the column,
// $increment meets a non-numeric column or value, $append / $remove meet a non-array column,
// or a column is named by two operations (the first one wins).
void plan_person_update(const EventBatch& batch, const std::vector<PersonOp>& ops, const TableShape& shape,
                        size_t max_fields, PersonPlan* out);

}  // namespace pulse
