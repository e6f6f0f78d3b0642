// Parse and type-check KQL queries the way Azure Monitor would, with Kusto.Language (the parser
// behind Azure Data Explorer and Log Analytics, npm @kusto/language-service-next), against the
// Application Insights columns the alert queries may use. Arguments: query files. Prints one JSON
// object: {file: {errors: [message, ...], columns: {name: type}}}; exits 1 on any error.
global.Bridge = require('@kusto/language-service-next/bridge.js');
require('@kusto/language-service-next/Kusto.Language.Bridge.js');
const fs = require('fs');

const Symbols = Kusto.Language.Symbols;
// The columns every Application Insights table has, then each table's own (a subset of the real
// schema: the ones an alert could reasonably read).
const common = 'timestamp:datetime, itemCount:int, customDimensions:dynamic, operation_Id:string, '
  + 'operation_Name:string, cloud_RoleName:string, cloud_RoleInstance:string';
const tables = {
  traces: 'message:string, severityLevel:int',
  customMetrics: 'name:string, value:real, valueCount:int, valueSum:real, valueMin:real, valueMax:real',
  requests: 'name:string, success:bool, resultCode:string, duration:real',
  dependencies: 'name:string, success:bool, resultCode:string, duration:real, target:string, type:string',
  exceptions: 'outerMessage:string, type:string, problemId:string',
};
const symbols = Object.entries(tables).map(
  ([name, columns]) => new Symbols.TableSymbol.$ctor7(name, `(${common}, ${columns})`, null));
const database = new Symbols.DatabaseSymbol.ctor('applicationinsights', symbols);
const globals = Kusto.Language.GlobalState.Default.WithDatabase(database);

function items(list) {
  const found = [];
  for (let i = 0; list && i < list.Count; i++) found.push(list.getItem(i));
  return found;
}

const report = {};
let failed = false;
for (const file of process.argv.slice(2)) {
  const code = Kusto.Language.KustoCode.ParseAndAnalyze(fs.readFileSync(file, 'utf8'), globals);
  const errors = items(code.GetDiagnostics())
    .filter((d) => d.Severity === 'Error')
    .map((d) => `${d.Message} (at ${d.Start})`);
  const columns = {};
  const result = code.ResultType;
  for (const column of items(result && result.Columns)) columns[column.Name] = column.Type.Name;
  report[file] = { errors, columns };
  failed = failed || errors.length > 0;
}
console.log(JSON.stringify(report));
process.exit(failed ? 1 : 0);
