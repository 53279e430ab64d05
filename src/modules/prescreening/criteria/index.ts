/**
 * The criteria engine: one definition of a card product's rules, two evaluators that agree.
 *
 *   parseCriteria(input)                     validate submitted rules → CriteriaRule[] (400 with criteria[i].x errors)
 *   compileCriteria(rules, { alias, exclusions })
 *                                            bulk evaluation inside MySQL: per-check 0/1 columns + eligible,
 *                                            bound parameters only (see docs/CRITERIA.md)
 *   evaluationFromRow(compiled, row)          a selected row → { eligible, reasons, failedRules, exclusions }
 *   evaluateRecord(rules, record, { context, facts })
 *                                            in process, for one user (explanations); record from evaluableRecordFromRow
 *   ExclusionFactsRepository.forUsers(ids)   the exclusion tables' facts for evaluateRecord
 */
export * from './calendar';
export * from './criteria.evaluator';
export * from './criteria-rule';
export * from './criteria-sql.compiler';
export * from './decimal';
export * from './evaluable-record';
export * from './exclusion-facts.repository';
export * from './exclusions';
