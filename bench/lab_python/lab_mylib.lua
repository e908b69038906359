#!lua name=lab
-- The lab's commit function, as the lab describes it: XACK the file, and only if that
-- acknowledged it, ZINCRBY every word. Used only by the Python baseline in bench/.
redis.register_function('lab_commit', function(keys, args)
  if redis.call('XACK', keys[1], args[1], args[2]) ~= 1 then return 0 end
  for i = 3, #args, 2 do
    redis.call('ZINCRBY', keys[2], args[i + 1], args[i])
  end
  return 1
end)
