-- Argo CD health check for isc.sailpoint ServiceAccount resources.
-- It applies the kstatus rules that Flux uses, in the same order, and maps their results to
-- Argo CD health: Current is Healthy, InProgress and Terminating are Progressing, Failed is
-- Degraded. One rule is stricter than kstatus: a resource without status.observedGeneration has
-- not been seen by the operator yet, so it is Progressing, not Healthy.

local health = {}

local function report(status, message)
  health.status = status
  health.message = message or ""
  return health
end

local metadata = obj.metadata or {}
if metadata.deletionTimestamp ~= nil then
  return report("Progressing", "Resource scheduled for deletion")
end

local status = obj.status or {}
if status.observedGeneration == nil then
  return report("Progressing", "Waiting for the operator to observe the resource")
end
if metadata.generation ~= nil and status.observedGeneration ~= metadata.generation then
  return report(
    "Progressing",
    "ServiceAccount generation is " .. tostring(metadata.generation) ..
      ", but latest observed generation is " .. tostring(status.observedGeneration)
  )
end

-- Whichever of Reconciling=True and Stalled=True comes first decides, as in kstatus.
local conditions = status.conditions or {}
for _, condition in ipairs(conditions) do
  if condition.type == "Reconciling" and condition.status == "True" then
    return report("Progressing", condition.message)
  end
  if condition.type == "Stalled" and condition.status == "True" then
    return report("Degraded", condition.message)
  end
end

for _, condition in ipairs(conditions) do
  if condition.type == "Ready" and condition.status == "True" then
    return report("Healthy", condition.message)
  end
  if condition.type == "Ready" and condition.status == "False" then
    return report("Progressing", condition.message)
  end
end

return report("Healthy", "Resource is current")
