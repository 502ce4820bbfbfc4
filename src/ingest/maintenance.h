// Upkeep of collections by the database's scheduler (src/pg/scheduler.cc).
#pragma once

namespace pulse::ingest {

// Summarises the BRIN ranges that ingestion filled since the last call, for every collection
// that received rows meanwhile (brin_summarize_new_values). Collections' BRIN indexes do not use
// autosummarize: its requests, when autovacuum's queue is full, log a line carrying the whole
// ingesting statement (events included) for every range. View deltas rely on summarised ranges
// to skip what they have merged.
void summarize_new_ranges();

}  // namespace pulse::ingest
