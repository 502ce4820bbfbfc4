// The direct write path (see direct_insert.h). Everything here runs inside one pg::call: plain C
// structures in a memory context of the subtransaction, no C++ object across Postgres calls.
#include "ingest/direct_insert.h"

#include "pg/faults.h"
#include "pg/progress.h"

extern "C" {
#include "access/heapam.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/tupconvert.h"
#include "catalog/pg_class.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/execPartition.h"
#include "executor/executor.h"
#include "nodes/makefuncs.h"
#include "optimizer/optimizer.h"
#include "parser/parse_relation.h"
#include "port/pg_bswap.h"
#include "rewrite/rewriteHandler.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/timestamp.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
}

namespace pulse::ingest {

namespace {

// Rows buffered for one relation (the collection, or one leaf partition) before
// table_multi_insert; kMaxBuffered rows in all buffers, or kMaxBufferedBytes of values, flush.
constexpr int kMaxBuffered = 1000;
constexpr size_t kMaxBufferedBytes = 4 * 1024 * 1024;

struct Target {
  ResultRelInfo* rri;
  TupleDesc desc;  // a private copy: slots made on it are not tracked by the resource owner
  AttrMap* map;    // root attribute numbers of the leaf's columns (null: same layout)
  Datum* values;   // the leaf's row when map is set
  bool* nulls;
  TupleTableSlot** slots;  // kMaxBuffered, made on first use
  int used;
  BulkInsertState bistate;
};

struct Call {
  EState* estate;
  ModifyTableState* mtstate;
  PartitionTupleRouting* proute;
  MemoryContext rows_cxt;  // values and tuples of the buffered rows, reset by each flush
  Target* targets;
  int ntargets, maxtargets, last;
  int buffered;
  size_t buffered_bytes;
  CommandId cid;
  PGFunction noop_trigger;  // see insert_binary_rows
};

// Triggers that fire on INSERT (the collections' own trigger fires on UPDATE, DELETE and TRUNCATE).
bool insert_triggers(const TriggerDesc* t) {
  return t && (t->trig_insert_before_row || t->trig_insert_after_row || t->trig_insert_instead_row ||
               t->trig_insert_before_statement || t->trig_insert_after_statement || t->trig_insert_new_table);
}

// Whether every INSERT trigger of rel is a row trigger (without transition table) running the C
// function `noop` (null: none may be skipped).
bool only_noop_insert_triggers(const TriggerDesc* t, PGFunction noop) {
  if (!noop) return false;
  for (int k = 0; k < t->numtriggers; k++) {
    const Trigger& tr = t->triggers[k];
    if (!TRIGGER_FOR_INSERT(tr.tgtype)) continue;
    if (!TRIGGER_FOR_ROW(tr.tgtype) || tr.tgnewtable || tr.tgoldtable) return false;
    FmgrInfo fn;
    fmgr_info(tr.tgfoid, &fn);
    if (fn.fn_addr != noop) return false;
  }
  return true;
}

bool takes_rows(Relation rel, PGFunction noop_trigger = nullptr) {
  TupleDesc d = RelationGetDescr(rel);
  return (!insert_triggers(rel->trigdesc) || only_noop_insert_triggers(rel->trigdesc, noop_trigger)) &&
         !(d->constr && d->constr->has_generated_stored) &&
         (rel->rd_rel->relkind == RELKIND_PARTITIONED_TABLE ||
          (rel->rd_rel->relkind == RELKIND_RELATION && rel->rd_tableam == GetHeapamTableAmRoutine()));
}

Target* target_of(Call* c, ResultRelInfo* rri) {
  if (c->last >= 0 && c->targets[c->last].rri == rri) return &c->targets[c->last];
  for (int k = 0; k < c->ntargets; k++)
    if (c->targets[k].rri == rri) return &c->targets[c->last = k];
  Relation rel = rri->ri_RelationDesc;
  if (!takes_rows(rel, c->noop_trigger))  // INSERT triggers, a foreign or non-heap partition, ...
    ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                    errmsg("partition \"%s\" takes rows through COPY only", RelationGetRelationName(rel))));
  if (c->ntargets == c->maxtargets) {
    c->maxtargets *= 2;
    c->targets = (Target*)repalloc(c->targets, sizeof(Target) * c->maxtargets);
  }
  Target* t = &c->targets[c->ntargets];
  memset(t, 0, sizeof *t);
  t->rri = rri;
  t->desc = CreateTupleDescCopy(RelationGetDescr(rel));
  if (rri->ri_RootToPartitionMap) {
    t->map = rri->ri_RootToPartitionMap->attrMap;
    t->values = (Datum*)palloc(sizeof(Datum) * t->desc->natts);
    t->nulls = (bool*)palloc(sizeof(bool) * t->desc->natts);
  }
  t->slots = (TupleTableSlot**)palloc0(sizeof(TupleTableSlot*) * kMaxBuffered);
  t->bistate = GetBulkInsertState();
  c->last = c->ntargets++;
  return t;
}

void flush(Call* c) {
  MemoryContext old = MemoryContextSwitchTo(c->rows_cxt);
  for (int k = 0; k < c->ntargets; k++) {
    Target* t = &c->targets[k];
    if (!t->used) continue;
    table_multi_insert(t->rri->ri_RelationDesc, t->slots, t->used, c->cid, 0, t->bistate);
    for (int i = 0; i < t->used; i++) {
      if (t->rri->ri_NumIndices > 0)
        list_free(ExecInsertIndexTuples(t->rri, t->slots[i], c->estate, false, false, NULL, NIL));
      ExecClearTuple(t->slots[i]);
    }
    t->used = 0;
  }
  MemoryContextSwitchTo(old);
  ResetPerTupleExprContext(c->estate);
  MemoryContextReset(c->rows_cxt);
  c->buffered = 0;
  c->buffered_bytes = 0;
}

[[noreturn]] void bad_format(Relation rel) {
  ereport(ERROR, (errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
                  errmsg("incorrect binary row for \"%s\"", RelationGetRelationName(rel))));
}

uint32 read_u32(const char* p) {
  uint32 v;
  memcpy(&v, p, 4);
  return pg_ntoh32(v);
}

// Types whose binary input is done here, as their receive function does it, without the call
// and its copies (a text value was copied three times).
enum class Fast : char { kNone, kText, kInt8, kFloat8, kBool, kTimestamptz };

Fast fast_kind(Form_pg_attribute att) {
  if (att->atttypmod != -1) return Fast::kNone;
  switch (att->atttypid) {
    case TEXTOID:
      return Fast::kText;
    case INT8OID:
      return Fast::kInt8;
    case FLOAT8OID:
      return Fast::kFloat8;
    case BOOLOID:
      return Fast::kBool;
    case TIMESTAMPTZOID:
      return Fast::kTimestamptz;
    default:
      return Fast::kNone;
  }
}

uint64 read_u64(const char* p) {
  uint64 v;
  memcpy(&v, p, 8);
  return pg_ntoh64(v);
}

Datum fast_value(Fast kind, const char* p, int32 len, Relation rel) {
  switch (kind) {
    case Fast::kText:
      // textrecv: the bytes checked in the database encoding (binary rows are made only when the
      // client's encoding is that encoding or SQL_ASCII, for which Postgres checks the same way)
      (void)pg_verify_mbstr(GetDatabaseEncoding(), p, len, false);
      return PointerGetDatum(cstring_to_text_with_len(p, len));
    case Fast::kInt8:
      if (len != 8) bad_format(rel);
      return Int64GetDatum(int64(read_u64(p)));
    case Fast::kFloat8: {
      if (len != 8) bad_format(rel);
      uint64 bits = read_u64(p);
      double d;
      memcpy(&d, &bits, 8);
      return Float8GetDatum(d);
    }
    case Fast::kBool:
      if (len != 1) bad_format(rel);
      return BoolGetDatum(*p != 0);
    case Fast::kTimestamptz: {
      if (len != 8) bad_format(rel);
      TimestampTz t = TimestampTz(read_u64(p));
      if (!TIMESTAMP_NOT_FINITE(t) && !IS_VALID_TIMESTAMP(t))  // timestamptz_recv's check
        ereport(ERROR, (errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE), errmsg("timestamp out of range")));
      return TimestampTzGetDatum(t);
    }
    case Fast::kNone:
      break;
  }
  bad_format(rel);
}

// Any other type: its receive function, over a copy of the bytes (receive functions may expect
// the terminating zero of a StringInfo), which must read them all.
Datum received(FmgrInfo* fn, StringInfo buf, const char* p, int32 len, Oid ioparam, int32 typmod, Relation rel) {
  resetStringInfo(buf);
  appendBinaryStringInfo(buf, p, len);
  Datum d = ReceiveFunctionCall(fn, buf, ioparam, typmod);
  if (buf->cursor != buf->len) bad_format(rel);
  return d;
}

// The work of insert_binary_rows, inside pg::call.
bool insert_rows(Oid relid, const std::string* names, int ncols, const char* data, size_t len, uint64* stored,
                 PGFunction noop_trigger) {
  Relation rel = table_open(relid, RowExclusiveLock);
  if (!takes_rows(rel, noop_trigger) || (noop_trigger && rel->rd_rel->relkind != RELKIND_RELATION) ||
      rel->rd_rel->relispartition) {
    table_close(rel, NoLock);
    return false;
  }
  TupleDesc desc = RelationGetDescr(rel);
  int natts = desc->natts;
  MemoryContext cxt = AllocSetContextCreate(CurTransactionContext, "pg_pulse direct insert", ALLOCSET_DEFAULT_SIZES);
  MemoryContext old = MemoryContextSwitchTo(cxt);
  auto release = [&] {
    MemoryContextSwitchTo(old);
    MemoryContextDelete(cxt);
    table_close(rel, NoLock);
    return false;
  };

  // the columns of the rows: their attribute and binary input function
  AttrNumber* attno = (AttrNumber*)palloc(sizeof(AttrNumber) * ncols);
  FmgrInfo* recv = (FmgrInfo*)palloc(sizeof(FmgrInfo) * ncols);
  Oid* ioparam = (Oid*)palloc(sizeof(Oid) * ncols);
  Fast* fast = (Fast*)palloc(sizeof(Fast) * ncols);
  bool* listed = (bool*)palloc0(sizeof(bool) * natts);
  for (int k = 0; k < ncols; k++) {
    attno[k] = attnameAttNum(rel, names[k].c_str(), false);
    if (attno[k] <= 0 || listed[attno[k] - 1]) return release();  // COPY says what is wrong
    listed[attno[k] - 1] = true;
    fast[k] = fast_kind(TupleDescAttr(desc, attno[k] - 1));
    Oid fn;
    getTypeBinaryInputInfo(TupleDescAttr(desc, attno[k] - 1)->atttypid, &fn, &ioparam[k]);
    fmgr_info(fn, &recv[k]);
  }

  // unlisted columns take their default, evaluated once (stable ones only: with a volatile
  // default COPY inserts row by row, as a default may read the collection)
  Node** default_expr = (Node**)palloc0(sizeof(Node*) * natts);
  for (int a = 0; a < natts; a++) {
    if (listed[a] || TupleDescAttr(desc, a)->attisdropped) continue;
    default_expr[a] = build_column_default(rel, a + 1);
    if (default_expr[a] && contain_volatile_functions(default_expr[a])) return release();
  }

  Call c;
  memset(&c, 0, sizeof c);
  c.estate = CreateExecutorState();
  c.cid = GetCurrentCommandId(true);
  c.noop_trigger = noop_trigger;
  c.estate->es_output_cid = c.cid;
  RangeTblEntry* rte = makeNode(RangeTblEntry);
  rte->rtekind = RTE_RELATION;
  rte->relid = relid;
  rte->relkind = rel->rd_rel->relkind;
  rte->rellockmode = RowExclusiveLock;
  rte->requiredPerms = ACL_INSERT;
  ExecInitRangeTable(c.estate, list_make1(rte));
  ResultRelInfo* root = makeNode(ResultRelInfo);
  ExecInitResultRelation(c.estate, root, 1);
  CheckValidResultRel(root, CMD_INSERT);
  ExecOpenIndices(root, false);
  c.mtstate = makeNode(ModifyTableState);
  c.mtstate->ps.state = c.estate;
  c.mtstate->operation = CMD_INSERT;
  c.mtstate->mt_nrels = 1;
  c.mtstate->resultRelInfo = root;
  c.mtstate->rootResultRelInfo = root;
  if (rel->rd_rel->relkind == RELKIND_PARTITIONED_TABLE) c.proute = ExecSetupPartitionTupleRouting(c.estate, rel);
  c.rows_cxt = AllocSetContextCreate(cxt, "pg_pulse direct insert rows", ALLOCSET_DEFAULT_SIZES);
  c.maxtargets = 4;
  c.targets = (Target*)palloc(sizeof(Target) * c.maxtargets);
  c.last = -1;

  TupleTableSlot* row = MakeSingleTupleTableSlot(CreateTupleDescCopy(desc), &TTSOpsVirtual);
  Datum* defaults = (Datum*)palloc0(sizeof(Datum) * natts);
  bool* default_null = (bool*)palloc(sizeof(bool) * natts);
  for (int a = 0; a < natts; a++) {
    default_null[a] = true;
    if (!default_expr[a]) continue;
    Form_pg_attribute att = TupleDescAttr(desc, a);
    ExprState* es = ExecPrepareExpr((Expr*)default_expr[a], c.estate);
    defaults[a] = ExecEvalExpr(es, GetPerTupleExprContext(c.estate), &default_null[a]);
    if (!default_null[a]) defaults[a] = datumCopy(defaults[a], att->attbyval, att->attlen);
  }

  StringInfoData field;
  initStringInfo(&field);
  uint64 n = 0;
  const char* p = data;
  const char* end = data + len;
  pg::pause_point("copy");
  while (p < end) {
    CHECK_FOR_INTERRUPTS();
    const char* row_start = p;
    MemoryContextSwitchTo(c.rows_cxt);
    ExecClearTuple(row);
    memcpy(row->tts_values, defaults, sizeof(Datum) * natts);
    memcpy(row->tts_isnull, default_null, sizeof(bool) * natts);
    if (end - p < 2) bad_format(rel);
    uint16 nf;
    memcpy(&nf, p, 2);
    p += 2;
    if (pg_ntoh16(nf) != ncols) bad_format(rel);
    for (int k = 0; k < ncols; k++) {
      if (end - p < 4) bad_format(rel);
      int32 flen = int32(read_u32(p));
      p += 4;
      int a = attno[k] - 1;
      if (flen == -1) continue;
      if (flen < 0 || flen > end - p) bad_format(rel);
      row->tts_values[a] = fast[k] != Fast::kNone ? fast_value(fast[k], p, flen, rel)
                                                  : received(&recv[k], &field, p, flen, ioparam[k],
                                                             TupleDescAttr(desc, a)->atttypmod, rel);
      row->tts_isnull[a] = false;
      p += flen;
    }
    ExecStoreVirtualTuple(row);
    row->tts_tableOid = relid;
    MemoryContextSwitchTo(cxt);

    ResultRelInfo* leaf = c.proute ? ExecFindPartition(c.mtstate, root, c.proute, row, c.estate) : root;
    Target* t = target_of(&c, leaf);
    MemoryContextSwitchTo(c.rows_cxt);
    HeapTuple tuple;
    if (t->map) {
      for (int a = 0; a < t->desc->natts; a++) {
        AttrNumber from = t->map->attnums[a];
        t->nulls[a] = from == 0 || row->tts_isnull[from - 1];
        t->values[a] = t->nulls[a] ? Datum(0) : row->tts_values[from - 1];
      }
      tuple = heap_form_tuple(t->desc, t->values, t->nulls);
    } else {
      tuple = heap_form_tuple(t->desc, row->tts_values, row->tts_isnull);
    }
    MemoryContextSwitchTo(cxt);
    if (!t->slots[t->used]) t->slots[t->used] = MakeSingleTupleTableSlot(t->desc, &TTSOpsHeapTuple);
    TupleTableSlot* slot = t->slots[t->used];
    ExecStoreHeapTuple(tuple, slot, true);  // freed by ExecClearTuple after the flush
    slot->tts_tableOid = RelationGetRelid(leaf->ri_RelationDesc);
    if (leaf->ri_RelationDesc->rd_att->constr) ExecConstraints(leaf, slot, c.estate);
    t->used++;
    n++;
    c.buffered++;
    c.buffered_bytes += size_t(p - row_start);
    if (c.buffered >= kMaxBuffered || c.buffered_bytes >= kMaxBufferedBytes || t->used == kMaxBuffered) {
      flush(&c);
      if (pg::Progress::copy_feed) pg::Progress::copy_feed->advance(int64_t(p - data));
      pg::pause_point("copy");
    }
  }
  flush(&c);

  for (int k = 0; k < c.ntargets; k++) {
    FreeBulkInsertState(c.targets[k].bistate);
    table_finish_bulk_insert(c.targets[k].rri->ri_RelationDesc, 0);
  }
  ExecResetTupleTable(c.estate->es_tupleTable, false);
  if (c.proute) ExecCleanupTupleRouting(c.mtstate, c.proute);
  ExecCloseResultRelations(c.estate);
  ExecCloseRangeTableRelations(c.estate);
  FreeExecutorState(c.estate);
  *stored = n;
  release();  // the call's memory freed, the collection closed
  return true;
}

}  // namespace

bool insert_binary_rows(Oid relid, const std::vector<std::string>& columns, std::string_view rows, uint64_t* stored,
                        PGFunction noop_trigger) {
  bool done = false;
  uint64 n = 0;
  const std::string* names = columns.data();
  int ncols = int(columns.size());
  pg::call([&] { done = insert_rows(relid, names, ncols, rows.data(), rows.size(), &n, noop_trigger); });
  *stored = n;
  return done;
}

}  // namespace pulse::ingest
