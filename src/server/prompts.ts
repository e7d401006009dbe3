// Prompts that help an agent use the sandbox well: each returns a ready plan naming the tool calls to make.
import type { McpServer } from '@modelcontextprotocol/server';
import { z } from 'zod';

export interface PromptDef {
  name: string;
  title: string;
  description: string;
  argsSchema: z.ZodObject;
  build: (args: Record<string, string | undefined>) => string;
}

export const PROMPTS: PromptDef[] = [
  {
    name: 'sandbox_example_template',
    title: 'Plan a sandbox task',
    description:
      'A step-by-step plan to reach a goal in the sandbox and come back with the right kind of artifact.',
    argsSchema: z.object({
      goal: z.string().describe('What you want to achieve, in a sentence.'),
      artifact_type: z
        .string()
        .optional()
        .describe('The result you want: plots, data, images, documents, models…'),
      libraries: z.string().optional().describe('Comma-separated Python libraries you expect to use.'),
    }),
    build: ({ goal, artifact_type, libraries }) => {
      const libs = (libraries ?? '')
        .split(',')
        .map((l) => l.trim())
        .filter(Boolean);
      return [
        `Goal: ${goal}`,
        '',
        'Plan (each step is one tool call):',
        '1. get_execution_info — check the Python version, installed packages and the limits in force.',
        libs.length
          ? `2. execute — try \`import ${libs.join(', ')}\`; for each import_error, call install_package with the name its hint gives.`
          : '2. execute — import what you need; an import_error names the install_package call that fixes it.',
        '3. write_file — put any input data into the workspace (or create it with execute).',
        `4. execute — do the work in small cells; variables persist between calls. Save results under ${artifactFolder(artifact_type)}/.`,
        '5. backup_current_artifacts — take a named backup once the results look right.',
        `6. list_artifacts with category "${artifact_type ?? 'data'}" — collect the sandbox:// URIs of the results; read them with read_file or resources/read.`,
        '',
        'If a call times out, split the work or pass a larger timeout (seconds). Errors carry a code and a hint: follow the hint.',
      ].join('\n');
    },
  },
  {
    name: 'sandbox_web_app_template',
    title: 'Plan a web app',
    description: 'A plan to build, run, check and export a small web app inside the sandbox.',
    argsSchema: z.object({
      idea: z.string().describe('What the app should do.'),
      framework: z.string().optional().describe('flask, fastapi, streamlit or static (default flask).'),
    }),
    build: ({ idea, framework }) => {
      const fw = framework ?? 'flask';
      return [
        `App idea: ${idea}`,
        `Framework: ${fw}`,
        '',
        'Plan:',
        `1. execute — prototype the app's logic as plain functions and test them with a few calls.`,
        `2. start_web_app with app_type "${fw}" and the full app code — it returns the app's URL (on 127.0.0.2, with its key) once the app answers.`,
        '3. get_web_app_logs — read the log tail if the app fails to start or a page errors.',
        '4. shell_execute `curl -s <in-box url>` or open the returned URL to check the pages.',
        '5. stop_web_app when done; export_web_app to get a Docker bundle (requirements detected, smoke-tested).',
        '6. get_export_details, then build_docker_image where a Docker engine runs (otherwise it prints the commands).',
      ].join('\n');
    },
  },
  {
    name: 'data_analysis_workflow',
    title: 'Analyse a dataset',
    description: 'A plan to load, explore, plot and report on a dataset in the sandbox.',
    argsSchema: z.object({
      dataset_path: z.string().describe('Path of the dataset in the workspace (e.g. data/sales.csv).'),
    }),
    build: ({ dataset_path }) =>
      [
        `Dataset: ${dataset_path}`,
        '',
        'Plan:',
        `1. list_artifacts with glob "${dataset_path}" — check the file is there (write_file it if not).`,
        `2. execute — \`import pandas as pd; df = pd.read_csv("${dataset_path}"); df.info(); df.head()\` (read_excel / read_json / read_parquet as the format needs).`,
        '3. execute — `df.describe(include="all")`, missing values per column, value counts of the key categorical columns.',
        '4. execute — plots with matplotlib (one idea per figure; they come back as images and are saved under plots/).',
        '5. execute — write the findings to report.md and any cleaned data to data/clean.csv.',
        '6. backup_current_artifacts("analysis_done"), then export_notebook to keep the whole analysis as a .ipynb.',
      ].join('\n'),
  },
];

function asStrings(args: Record<string, unknown>): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(args)) out[k] = v === undefined ? undefined : String(v);
  return out;
}

function artifactFolder(type: string | undefined): string {
  if (type === 'plots' || type === 'images') return type;
  if (type === 'models') return 'models';
  return 'output';
}

export function registerPrompts(server: McpServer): void {
  for (const p of PROMPTS) {
    server.registerPrompt(
      p.name,
      { title: p.title, description: p.description, argsSchema: p.argsSchema },
      (args: Record<string, unknown>) => ({
        description: p.description,
        messages: [
          { role: 'user' as const, content: { type: 'text' as const, text: p.build(asStrings(args)) } },
        ],
      }),
    );
  }
}
