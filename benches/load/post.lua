-- wrk script: POST bodies (fingerprints or audio files) with an API key, cycling
-- through the files listed in BODY_LIST (one path per line) so that the service sees
-- many different queries, not one it could answer from its caches.
-- BODY_LIST, BODY_TYPE and API_KEY come from the environment (see run.sh).
local bodies = {}
for path in io.lines(os.getenv("BODY_LIST")) do
    local f = assert(io.open(path, "rb"))
    bodies[#bodies + 1] = f:read("*a")
    f:close()
end
assert(#bodies > 0, "BODY_LIST names no files")

local headers = {
    ["Content-Type"] = os.getenv("BODY_TYPE"),
    ["Authorization"] = "Bearer " .. os.getenv("API_KEY"),
}
local next_body = 1

-- Each thread starts at its own place in the list.
function setup(thread)
    thread:set("next_body", math.random(#bodies))
end

function request()
    local body = bodies[next_body]
    next_body = next_body % #bodies + 1
    return wrk.format("POST", nil, headers, body)
end
