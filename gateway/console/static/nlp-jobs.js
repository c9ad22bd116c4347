// Batch job uploads and result downloads, through api.raw.
import { api } from "./api.js";

/**
 * POST /nlp/jobs as multipart/form-data: `file` and the text fields beside it.
 *
 * api.raw sends JSON unless the body is a string or a Blob, so the form is encoded
 * first (a Response built from FormData yields the multipart bytes and the boundary).
 * A Blob also carries its length: the jobs' 10 MB limit holds only for uploads that
 * announce their Content-Length.
 */
export async function submitJob(file, fields) {
  const form = new FormData();
  for (const [name, value] of Object.entries(fields)) form.append(name, value);
  form.append("file", file, file.name);
  const encoded = new Response(form);
  const body = await encoded.blob();
  const response = await api.raw("POST", "/nlp/jobs", {
    body,
    headers: { "Content-Type": encoded.headers.get("Content-Type") },
  });
  return response.json();
}

/** Download a job's rows as CSV (line,text,label,score,error) under `job-<id>.csv`. */
export async function downloadResults(jobId) {
  const response = await api.raw("GET", `/nlp/jobs/${encodeURIComponent(jobId)}/results`, {
    params: { format: "csv" },
    headers: { Accept: "text/csv" },
  });
  const url = URL.createObjectURL(await response.blob());
  const link = document.createElement("a");
  link.href = url;
  link.download = `job-${jobId}.csv`;
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  window.setTimeout(() => URL.revokeObjectURL(url), 1000);
}
